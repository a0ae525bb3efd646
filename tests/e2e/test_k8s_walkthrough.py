"""Coming from App Mesh on EKS, end to end (root), the README's three commands: the
controller's manifests applied with `proxyinit mesh apply` to a control plane's API, `proxyinit
inject` run on them, and each injected pod spec played in its own namespace: the init
container's env applied with the redirector, the Envoy sidecar started with the sidecar's env
(`envoy-run`), the app; the client's request goes through both Envoys."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from proxyinit.lab.netns import Lab, lab, netns_exec
from proxyinit.lab.task import clean_environ
from tests.support.serve import start_on_socket

pytestmark = [pytest.mark.root, pytest.mark.envoy]

MANIFESTS = Path(__file__).resolve().parents[1] / "data" / "k8s" / "e2e-shop.yaml"
ADDRESSES = {"backend": "198.18.2.10", "client": "198.18.2.11"}
HOSTS = {
    "backend-pods.shop.svc.cluster.local": ADDRESSES["backend"],
    "backend.shop.svc.cluster.local": ADDRESSES["backend"],
}
API = "http://127.0.0.1:15080"
GET = (
    "import sys,urllib.request as u;o=u.build_opener(u.ProxyHandler({}));"
    "sys.stdout.write(o.open(sys.argv[1],timeout=5).read().decode())"
)


def pod_specs(workdir: Path, socket: Path) -> dict[str, dict]:
    """{deployment name: injected pod spec}, from the real `proxyinit inject` command."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "proxyinit",
            "inject",
            "-f",
            str(workdir / "manifests.yaml"),
            "--xds-endpoint",
            f"unix://{socket}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return {
        doc["metadata"]["name"]: doc["spec"]["template"]["spec"]
        for doc in yaml.safe_load_all(out)
        if doc["kind"] == "Deployment"
    }


def env_of(containers: list[dict], name: str) -> dict[str, str]:
    container = next(c for c in containers if c["name"] == name)
    return {e["name"]: e["value"] for e in container["env"]}


def get(ns: str, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        netns_exec(ns, sys.executable, "-c", GET, url), capture_output=True, text=True, timeout=20
    )


def wait_get(ns: str, url: str, what: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        proc = get(ns, url)
        if proc.returncode == 0:
            return proc.stdout
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: {url} in {ns} did not answer: {proc.stderr[-500:]}")
        time.sleep(0.1)


def start(current: Lab, ns: str, argv: list[str], env: dict, log: Path) -> None:
    with open(log, "wb") as handle:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(netns_exec(ns, *argv), env=env, stdout=handle, stderr=handle)
    current.processes.append(proc)


def play_pod(current: Lab, ns: str, spec: dict, workdir: Path, name: str) -> None:
    """The init container (must exit 0), then the Envoy sidecar until /ready."""
    init = {**clean_environ(), **env_of(spec["initContainers"], "proxyinit")}
    applied = subprocess.run(
        netns_exec(ns, sys.executable, "-m", "proxyinit"),
        env=init,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert applied.returncode == 0, applied.stderr
    sidecar = {**clean_environ(), **env_of(spec["containers"], "envoy")}
    start(
        current,
        ns,
        [sys.executable, "-m", "proxyinit", "envoy-run"],
        sidecar,
        workdir / f"envoy-{name}.log",
    )
    wait_get(ns, "http://127.0.0.1:9901/ready", f"envoy of {name}")


def start_control_plane(current: Lab, hub: str, workdir: Path, socket: Path) -> None:
    """`xds serve --db` in the hub namespace (its API on that namespace's loopback, so no port
    of the machine is taken); Envoys reach it through the unix socket."""
    api = API.removeprefix("http://")
    xds = start_on_socket(
        workdir, current.processes, "--api", api, netns=hub, db=workdir / "mesh.db"
    )
    assert xds == f"unix://{socket}"  # the one the pod specs name
    wait_get(hub, f"{API}/openapi.json", "control plane API")


def counter(ns: str, name: str) -> int:
    stats = get(ns, f"http://127.0.0.1:9901/stats?filter=^{name}$").stdout
    return sum(int(line.partition(": ")[2]) for line in stats.splitlines() if line.startswith(name))


def test_injected_pods_carry_traffic_through_their_envoys():
    if os.geteuid() != 0:
        pytest.fail("tests/e2e needs root (network namespaces): run `make test` as root")
    workdir = Path(tempfile.mkdtemp(prefix="proxyinit-k8s-e2e-"))
    workdir.chmod(0o755)  # Envoy (uid 1337) reaches the control plane's socket in here
    socket = workdir / "xds.sock"
    shutil.copy(MANIFESTS, workdir / "manifests.yaml")
    try:
        specs = pod_specs(workdir, socket)
        with lab() as current:
            hub = current.add_namespace("pi-hub")
            bridge = current.bridge(hub)
            namespaces = {}
            for name, address in ADDRESSES.items():
                namespaces[name] = current.add_namespace(f"pi-{name}")
                current.attach(hub, bridge, namespaces[name], [f"{address}/24"])
                current.hosts_file(namespaces[name], HOSTS)
            start_control_plane(current, hub, workdir, socket)
            applied = subprocess.run(
                netns_exec(
                    hub,
                    sys.executable,
                    "-m",
                    "proxyinit",
                    "mesh",
                    "apply",
                    "-f",
                    str(workdir / "manifests.yaml"),
                    "--endpoint-url",
                    API,
                ),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert applied.returncode == 0, applied.stderr
            assert "created   VirtualNode shop/client_shop" in applied.stdout
            for name in ADDRESSES:
                play_pod(current, namespaces[name], specs[name], workdir, name)
            app = {**clean_environ(), "COLOR": "blue"}
            start(
                current,
                namespaces["backend"],
                [sys.executable, "-m", "proxyinit.colorapp.teller", "--uid", "1000"],
                app,
                workdir / "app.log",
            )
            wait_get(namespaces["backend"], "http://127.0.0.1:9080/ping", "backend app")
            answer = get(namespaces["client"], "http://backend.shop.svc.cluster.local:9080/")
            assert answer.returncode == 0 and answer.stdout == "blue", answer.stderr
            egress = "cluster.cds_egress_shop_backend_shop_http_9080.upstream_rq_total"
            ingress = "cluster.cds_ingress_shop_backend_shop_http_9080.upstream_rq_total"
            assert counter(namespaces["client"], egress) >= 1
            assert counter(namespaces["backend"], ingress) >= 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
