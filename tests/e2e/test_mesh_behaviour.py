"""Mesh behaviour through the redirector in namespaces (root): the parity features the loopback
Envoy tests show (tests/xds/test_xds_tls_envoy.py, test_xds_health_envoy.py), shown again the way
a task runs them: each task a namespace whose init container (`proxyinit`, APPMESH_* env) applied
the redirector, Envoy as uid 1337 and the app as another uid (proxyinit/lab/task.py), all on one
control plane (`xds serve --mesh-file` on a unix socket). The client app (uid 1001) connects to a
virtual service's name and port, as an App Mesh app does; iptables hands it to its Envoy.

hub namespace: bridge br0. client (client-vn), secure (secure-vn: listener tls STRICT with file
certificates made here), pair-a and pair-b (pair-vn, listener healthCheck) and flaky-a and flaky-b
(flaky-vn, listener outlierDetection): two instances each, one node id, DNS responseType
ENDPOINTS and hosts files naming both; gateway (ingress-gw, its Envoy alone, routes rewriting
paths to the STRICT service), and outsider: a namespace with no task at all. The tests stop
instances' apps, each its own service's: they do not depend on their order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from proxyinit.lab.netns import NETNS_ETC, Lab, first_line, netns_exec
from tests.support.certs import TestCa
from tests.support.serve import start_on_socket

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

MESH = "behave"
SECURE, PAIR, FLAKY = "secure.mesh.local", "pair.mesh.local", "flaky.mesh.local"
GATEWAY, GATEWAY_PORT = "gw.mesh.local", 8080
PORT = 9080
ADDRESSES = {  # namespace -> address on the bridge (198.18.0.0/15: test addresses)
    "client": "198.18.2.100",
    "secure": "198.18.2.10",
    "pair-a": "198.18.2.11",
    "pair-b": "198.18.2.12",
    "flaky-a": "198.18.2.13",
    "flaky-b": "198.18.2.14",
    "gateway": "198.18.2.20",
    "outsider": "198.18.2.200",
}
TASKS = {  # namespace -> node (a virtual gateway's task is its Envoy alone, no redirector)
    "client": "virtualNode/client-vn",
    "secure": "virtualNode/secure-vn",
    "pair-a": "virtualNode/pair-vn",
    "pair-b": "virtualNode/pair-vn",
    "flaky-a": "virtualNode/flaky-vn",
    "flaky-b": "virtualNode/flaky-vn",
    "gateway": "virtualGateway/ingress-gw",
}
CHECK = {  # App Mesh's smallest interval; 2 failures: out of the client's traffic after ~10 s
    "protocol": "http",
    "path": "/ping",
    "healthyThreshold": 2,
    "unhealthyThreshold": 2,
    "intervalMillis": 5000,
    "timeoutMillis": 4000,  # generous: a loaded 2-core machine must not fail a live app
}
OUTLIER = {  # two 5xx in a row eject a host (at once); one host of two may be out
    "maxServerErrors": 2,
    "maxEjectionPercent": 50,
    "interval": {"unit": "s", "value": 10},
    "baseEjectionDuration": {"unit": "s", "value": 60},
}


def _node(name: str, hostname: str, listener: dict | None = None, **spec) -> dict:
    listener = {"portMapping": {"port": PORT, "protocol": "http"}, **(listener or {})}
    discovery = {"dns": {"hostname": hostname, "responseType": "ENDPOINTS"}}
    spec = {"listeners": [listener], "serviceDiscovery": discovery, **spec}
    return {"meshName": MESH, "virtualNodeName": name, "spec": spec}


def _service(name: str, node: str) -> dict:
    provider = {"virtualNode": {"virtualNodeName": node}}
    return {"meshName": MESH, "virtualServiceName": name, "spec": {"provider": provider}}


def mesh_resources(ca: TestCa) -> list[dict]:
    leaf = ca.leaf("secure", SECURE)
    certificate = {"file": {"certificateChain": str(leaf.chain), "privateKey": str(leaf.key)}}
    trust = {"tls": {"validation": {"trust": {"file": {"certificateChain": str(ca.path)}}}}}
    backends = [
        {"virtualService": {"virtualServiceName": SECURE, "clientPolicy": trust}},
        {"virtualService": {"virtualServiceName": PAIR}},
        {"virtualService": {"virtualServiceName": FLAKY}},
    ]
    return [
        {"meshName": MESH},
        _node("client-vn", "client.mesh.local", backends=backends),
        _node("secure-vn", SECURE, {"tls": {"mode": "STRICT", "certificate": certificate}}),
        _node("pair-vn", PAIR, {"healthCheck": CHECK}),
        _node("flaky-vn", FLAKY, {"outlierDetection": OUTLIER}),
        _service(SECURE, "secure-vn"),
        _service(PAIR, "pair-vn"),
        _service(FLAKY, "flaky-vn"),
        *gateway_resources(trust),
    ]


def gateway_resources(client_policy: dict) -> list[dict]:
    """ingress-gw, every route to the STRICT service (the gateway originates TLS): /shop/ with
    App Mesh's default prefix rewrite (to /), /keep/ with it disabled, /health -> /ping."""
    listener = {"portMapping": {"port": GATEWAY_PORT, "protocol": "http"}}
    spec = {"listeners": [listener], "backendDefaults": {"clientPolicy": client_policy}}
    routes = {
        "shop": ({"prefix": "/shop/"}, None),
        "keep": ({"prefix": "/keep/"}, {"prefix": {"defaultPrefix": "DISABLED"}}),
        "health": ({"path": {"exact": "/health"}}, {"path": {"exact": "/ping"}}),
    }
    resources = [{"meshName": MESH, "virtualGatewayName": "ingress-gw", "spec": spec}]
    for name, (match, rewrite) in routes.items():
        action = {"target": {"virtualService": {"virtualServiceName": SECURE}}}
        action.update({"rewrite": rewrite} if rewrite else {})
        http = {"match": match, "action": action}
        resources.append(
            {
                "meshName": MESH,
                "virtualGatewayName": "ingress-gw",
                "gatewayRouteName": name,
                "spec": {"httpRoute": http},
            }
        )
    return resources


@dataclass
class Mesh:
    lab: Lab
    workdir: Path
    namespaces: dict[str, str] = field(default_factory=dict)
    app_pids: dict[str, int] = field(default_factory=dict)

    def build_network(self) -> None:
        hub = self.lab.add_namespace("pi-mb-hub")
        bridge = self.lab.bridge(hub)
        hosts = {
            "client.mesh.local": ADDRESSES["client"],
            SECURE: ADDRESSES["secure"],
            PAIR: ADDRESSES["pair-a"],
            FLAKY: ADDRESSES["flaky-a"],
            GATEWAY: ADDRESSES["gateway"],
        }
        for name, address in ADDRESSES.items():
            ns = self.lab.add_namespace(f"pi-mb-{name}")
            self.lab.attach(hub, bridge, ns, [f"{address}/24"])
            self.lab.hosts_file(ns, hosts)
            # Second lines for the two-instance names: Envoy's STRICT_DNS clusters get both.
            with open(os.path.join(NETNS_ETC, ns, "hosts"), "a") as handle:
                handle.write(f"{ADDRESSES['pair-b']} {PAIR}\n{ADDRESSES['flaky-b']} {FLAKY}\n")
            self.namespaces[name] = ns

    def start_control_plane(self, resources: list[dict]) -> str:
        """`xds serve` on a unix socket (umask 0: Envoy as uid 1337 connects to it)."""
        mesh_file = self.workdir / "mesh.yaml"
        mesh_file.write_text(json.dumps(resources))  # JSON is YAML
        flags = ("--log-level", "warning")
        return start_on_socket(self.workdir, self.lab.processes, *flags, mesh_file=mesh_file)

    def start_tasks(self, xds: str) -> None:
        """Every task side by side (init container, Envoy, app answering its name); wait all."""
        started = []
        for name, node in TASKS.items():
            argv = [sys.executable, "-m", "proxyinit.lab.task", "--xds", xds]
            argv += ["--node", f"mesh/{MESH}/{node}"]
            argv += ["--app", "teller", "--color", name] if "Node/" in node else []
            started.append((name, self.lab.spawn(self.namespaces[name], *argv)))
        for name, proc in started:
            line = first_line(proc, timeout=60)
            status = json.loads(line) if line.startswith("{") else {"error": line}
            assert status.get("ready"), f"task {name}: {status} {self.lab.stderr_of(proc)}"
            self.app_pids[name] = status.get("app_pid")

    def get(self, ns: str, name: str, port: int = PORT, path: str = "/") -> str:
        """The app's request (uid 1001): resolve `name`, plain HTTP GET name:port/path."""
        argv = [sys.executable, "-m", "proxyinit.lab.dnsstub", "get", name, str(port), path]
        proc = subprocess.run(
            netns_exec(self.namespaces[ns], *argv, "--uid", "1001"),
            capture_output=True,
            text=True,
            timeout=15,
        )
        return proc.stdout.strip() or proc.stderr.strip()[-300:]

    def admin(self, ns: str, path: str) -> str:
        """GET Envoy's admin (127.0.0.1:9901) inside a task's namespace."""
        code = (
            "import sys,urllib.request as u;o=u.build_opener(u.ProxyHandler({}));"
            "sys.stdout.write(o.open(sys.argv[1],timeout=5).read().decode())"
        )
        url = f"http://127.0.0.1:9901{path}"
        argv = netns_exec(self.namespaces[ns], sys.executable, "-c", code, url)
        return subprocess.run(argv, capture_output=True, text=True, timeout=15, check=True).stdout

    def counter(self, ns: str, pattern: str) -> int:
        """The sum of Envoy's counters whose names match `pattern` (a regex) in task `ns`."""
        lines = self.admin(ns, f"/stats?filter={pattern}").splitlines()
        return sum(int(line.rpartition(": ")[2]) for line in lines if ": " in line)


@pytest.fixture(scope="module")
def mesh():
    if os.geteuid() != 0:
        pytest.fail("tests/e2e needs root (network namespaces)", pytrace=False)
    lab = Lab()
    workdir = Path(tempfile.mkdtemp(prefix="proxyinit-envoy-behave-"))
    lab.directories.append(str(workdir))
    workdir.chmod(0o755)  # Envoy (uid 1337) reads the certificates and the socket here
    current = Mesh(lab, workdir)
    try:
        current.build_network()
        current.start_tasks(current.start_control_plane(mesh_resources(TestCa(workdir))))
        yield current
    finally:
        created = list(lab.namespaces)
        lab.close()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left = [name for name in created if name in listed.split()]
    assert not left, f"namespaces left behind: {left}"


def test_client_app_plain_http_arrives_over_strict_tls(mesh):
    before = mesh.counter("secure", r"^listener\..*\.ssl\.handshake$")
    assert mesh.get("client", SECURE) == "secure"
    # The secure task's redirector sent it to Envoy's STRICT listener, which took TLS.
    assert mesh.counter("secure", r"^listener\..*\.ssl\.handshake$") > before


def test_plaintext_from_outside_the_mesh_is_refused_by_the_strict_listener(mesh):
    before = mesh.counter("secure", r"^listener\..*\.ssl\.connection_error$")
    answer = mesh.get("outsider", SECURE)
    assert answer == "" or answer.startswith("error:"), answer
    assert mesh.counter("secure", r"^listener\..*\.ssl\.connection_error$") > before


def _pair_flags(mesh: Mesh, address: str) -> str:
    for line in mesh.admin("client", "/clusters").splitlines():
        if f"::{address}:{PORT}::health_flags::" in line:
            return line.rpartition("::")[2]
    return "(not a host)"


def _both_answer(mesh: Mesh, timeout: float = 25.0) -> None:
    """Both instances healthy in the client's Envoy and answering its app (a check may still
    be pending when the module starts, or miss once on a loaded machine: ask again)."""
    deadline, answers = time.monotonic() + timeout, set()
    while answers != {"pair-a", "pair-b"}:
        flags = {ns: _pair_flags(mesh, ADDRESSES[ns]) for ns in ("pair-a", "pair-b")}
        assert time.monotonic() < deadline, (answers, flags)
        if set(flags.values()) == {"healthy"}:
            answers |= {mesh.get("client", PAIR) for _ in range(4)}
        else:
            time.sleep(0.5)


def test_health_check_moves_the_client_apps_traffic_off_a_stopped_instance(mesh):
    _both_answer(mesh)
    os.kill(mesh.app_pids["pair-b"], signal.SIGTERM)  # its Envoy stays; /ping now fails
    stopped = time.monotonic()
    deadline = stopped + 2 * CHECK["intervalMillis"] / 1000 + CHECK["timeoutMillis"] / 1000 + 5
    while "failed_active_hc" not in _pair_flags(mesh, ADDRESSES["pair-b"]):
        assert time.monotonic() < deadline, _pair_flags(mesh, ADDRESSES["pair-b"])
        time.sleep(0.5)
    answers = [mesh.get("client", PAIR) for _ in range(12)]
    assert answers == ["pair-a"] * 12, answers


def test_outlier_detection_ejects_an_instance_answering_5xx(mesh):
    ejected = r"^cluster\..*flaky-vn.*\.outlier_detection\.ejections_enforced_total$"
    answers = {mesh.get("client", FLAKY) for _ in range(8)}
    assert answers == {"flaky-a", "flaky-b"}, answers
    os.kill(mesh.app_pids["flaky-b"], signal.SIGTERM)  # its Envoy now answers 503 for it
    for _ in range(30):
        if mesh.counter("client", ejected):
            break
        mesh.get("client", FLAKY)
    assert mesh.counter("client", ejected) == 1
    answers = [mesh.get("client", FLAKY) for _ in range(10)]
    assert answers == ["flaky-a"] * 10, answers


def test_gateway_route_rewrite_is_what_the_app_receives(mesh):
    # The teller answers its name on "/", "pong" on "/ping", "not found" on anything else.
    assert mesh.get("outsider", GATEWAY, GATEWAY_PORT, "/shop/") == "secure"
    assert mesh.get("outsider", GATEWAY, GATEWAY_PORT, "/keep/") == "not found"
    assert mesh.get("outsider", GATEWAY, GATEWAY_PORT, "/health") == "pong"
