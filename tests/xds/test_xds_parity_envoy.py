"""Issue 9 behaviour through a real Envoy on loopback: a listener health check marks a local app
that does not answer as unhealthy (admin /clusters); the access log file gets one line per
request in the configured JSON format; a connection pool turns the overflow into 503s; outlier
detection ejects a target that answers 5xx.

No iptables here: a listener is moved onto the port its chain matches (the original destination
of an unredirected connection is the listener's own address), so a request to it takes the path
a redirected one would: the egress listener to 127.0.0.1:<backend port>, the ingress listener to
127.0.0.3:<app port> while the app itself is on 127.0.0.1:<app port>. Target nodes' DNS hostname
is 127.0.0.2 (loopback), where a small HTTP server answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.controlplane.plane import ControlPlane
from proxyinit.mesh.runtime.envoy import EnvoyProcess, find_envoy_binary
from proxyinit.mesh.translate.names import INGRESS_LISTENER
from proxyinit.xds import types
from proxyinit.xds.endpoint import Endpoint
from tests.support.http_app import answering, http_app
from tests.support.loopback import free_port, loopback_translator

pytestmark = pytest.mark.envoy

MESH = "parity"
NODE = f"mesh/{MESH}/virtualNode/front-vn"
SERVICE = "color.parity.local"
TARGET_HOST = "127.0.0.2"


def _listener(port: int) -> dict:
    return {
        "portMapping": {"port": port, "protocol": "tcp"},
        "healthCheck": {
            "protocol": "tcp",
            "healthyThreshold": 2,
            "unhealthyThreshold": 2,
            "intervalMillis": 5000,
            "timeoutMillis": 2000,
        },
    }


def mesh(up: int, down: int, service_port: int, log: Path) -> list[dict]:
    """front-vn: two listeners (`up` has an app, `down` none), logs to `log`, backend SERVICE."""
    pairs = [
        {"key": "code", "value": "%RESPONSE_CODE%"},
        {"key": "path", "value": "%REQ(:PATH)%"},
        {"key": "authority", "value": "%REQ(:AUTHORITY)%"},
    ]
    return [
        {"meshName": MESH, "spec": {"egressFilter": {"type": "DROP_ALL"}}},
        {
            "meshName": MESH,
            "virtualNodeName": "front-vn",
            "spec": {
                "listeners": [_listener(up), _listener(down)],
                "serviceDiscovery": {"dns": {"hostname": "front.parity.local"}},
                "backends": [{"virtualService": {"virtualServiceName": SERVICE}}],
                "logging": {"accessLog": {"file": {"path": str(log), "format": {"json": pairs}}}},
            },
        },
        {
            "meshName": MESH,
            "virtualNodeName": "color-vn",
            "spec": {
                "listeners": [{"portMapping": {"port": service_port, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": TARGET_HOST}},
            },
        },
        {
            "meshName": MESH,
            "virtualServiceName": SERVICE,
            "spec": {"provider": {"virtualNode": {"virtualNodeName": "color-vn"}}},
        },
    ]


def serving(host: str, port: int, status: int = 200, delay: float = 0.0):
    return http_app(host, port, answering(b"purple", status, delay))


@contextlib.contextmanager
def listening(port: int, host: str = "127.0.0.1"):
    """A local app that accepts TCP connections on host:port (enough for a tcp check)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(16)
        yield


@contextlib.asynccontextmanager
async def running_node(
    workdir: Path, envoy: EnvoyProcess, resources: list, node: str, translate, certs=None
):
    """A control plane serving `resources` (a mesh file in `workdir`) and `envoy` as `node`;
    `certs`: its `--certs` directory."""
    find_envoy_binary()
    mesh_file = workdir / "mesh.json"
    mesh_file.write_text(json.dumps(resources))
    control_plane = ControlPlane(
        Endpoint(host="127.0.0.1", port=0),
        mesh_file=FileMeshSource(mesh_file, interval=0.05),
        debug=None,
        translate=translate,
        certs=certs,
    )
    async with control_plane:
        try:
            await envoy.start_node(node, f"127.0.0.1:{control_plane.xds_port}")
            yield envoy
        finally:
            await envoy.stop()


@pytest.fixture
async def front(tmp_path):
    up, down, service_port = free_port(), free_port(), free_port()
    envoy = EnvoyProcess()
    log = envoy.workdir / "access.log"  # the workdir is writable by Envoy's uid
    resources = mesh(up, down, service_port, log)
    with listening(up), serving(TARGET_HOST, service_port):
        translate = loopback_translator(egress=service_port)
        async with running_node(tmp_path, envoy, resources, NODE, translate):
            yield envoy, up, down, service_port, log


async def _eventually(check, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_health_check_marks_a_local_app_that_does_not_answer_unhealthy(front):
    envoy, up, down, _, _ = front
    seen = await _eventually(_health_flags(envoy, up, down))
    assert seen is not None, "Envoy did not report both local app clusters"
    assert seen[f"cds_ingress_{MESH}_front-vn_tcp_{up}"] == "healthy"
    assert "failed_active_hc" in seen[f"cds_ingress_{MESH}_front-vn_tcp_{down}"]


def _health_flags(envoy: EnvoyProcess, up: int, down: int):
    """A check: {cluster: health flags} once both local app clusters are listed and one is healthy."""

    async def flags():
        status, body = await envoy.admin_get("/clusters")
        assert status == 200, body
        out = {}
        for line in body.decode().splitlines():
            if "::health_flags::" in line:
                # cluster::host::health_flags::flags; the host may be [::1]:port
                head, _, value = line.rpartition("::health_flags::")
                out[head.partition("::")[0]] = value
        want = {f"cds_ingress_{MESH}_front-vn_tcp_{port}" for port in (up, down)}
        return out if want <= set(out) and "healthy" in out.values() else None

    return flags


async def test_ipv6_only_node_reaches_its_local_app_on_ipv6_loopback(tmp_path):
    # howto-ipv6: with IPv6_ONLY the local app endpoint is IPv6, so an app listening on IPv4
    # only is unreachable ("error due to application compatibility").
    up, down = free_port(), free_port()
    resources = mesh(up, down, free_port(), tmp_path / "unused.log")
    node_spec = resources[1]["spec"]
    del node_spec["logging"], node_spec["backends"]
    node_spec["serviceDiscovery"]["dns"]["ipPreference"] = "IPv6_ONLY"
    envoy = EnvoyProcess()
    with listening(up, "::1"), listening(down, "127.0.0.1"):
        async with running_node(tmp_path, envoy, resources, NODE, loopback_translator()):
            seen = await _eventually(_health_flags(envoy, up, down))
    assert seen is not None, "Envoy did not report both local app clusters"
    assert seen[f"cds_ingress_{MESH}_front-vn_tcp_{up}"] == "healthy"
    assert "failed_active_hc" in seen[f"cds_ingress_{MESH}_front-vn_tcp_{down}"]


async def test_access_log_gets_a_json_line_per_request(front):
    _, _, _, service_port, log = front

    def get() -> str:
        request = urllib.request.Request(
            f"http://127.0.0.1:{service_port}/color?x=1", headers={"host": SERVICE}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode()

    async def answered():
        try:
            return await asyncio.to_thread(get)
        except OSError:
            return None  # the egress listener is not there yet

    assert await _eventually(answered) == "purple"

    async def logged():
        lines = log.read_text().splitlines() if log.exists() else []
        return [json.loads(line) for line in lines] or None

    entries = await _eventually(logged)
    assert entries, f"no access log line in {log}"
    # json_format: values are rendered as strings or numbers as the operator gives them.
    assert {"code": 200, "path": "/color?x=1", "authority": SERVICE} in entries, entries


def _get(url: str, host: str) -> int:
    request = urllib.request.Request(url, headers={"host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _node(name: str, port: int, **listener) -> dict:
    return {
        "meshName": MESH,
        "virtualNodeName": name,
        "spec": {
            "listeners": [{"portMapping": {"port": port, "protocol": "http"}, **listener}],
            "serviceDiscovery": {"dns": {"hostname": TARGET_HOST}},
        },
    }


def _ingress_on(port: int):
    """The loopback translator, with the ingress listener on 127.0.0.3:<app port>."""
    translate = loopback_translator(ingress=port)

    def moved(model, node, **options):
        resources = translate(model, node, **options)
        for listener in resources[types.LISTENER]:
            if listener.name == INGRESS_LISTENER:
                listener.address.socket_address.address = "127.0.0.3"
        return resources

    return moved


async def test_connection_pool_turns_the_overflow_into_503s(tmp_path):
    port = free_port()
    pool = {"http": {"maxConnections": 1, "maxPendingRequests": 1}}
    resources = [{"meshName": MESH}, _node("pool-vn", port, connectionPool=pool)]
    with serving("127.0.0.1", port, delay=0.5):  # the app answers slowly
        async with running_node(
            tmp_path,
            EnvoyProcess(),
            resources,
            f"mesh/{MESH}/virtualNode/pool-vn",
            _ingress_on(port),
        ):
            url = f"http://127.0.0.3:{port}/"
            assert await _eventually(_status(url, "pool.local"), timeout=10) == 200
            codes = await asyncio.gather(*(asyncio.to_thread(_get, url, "x") for _ in range(6)))
    # One request in flight, one queued: the rest overflow at once (App Mesh: 503).
    assert codes.count(200) >= 1 and codes.count(503) >= 3, codes


async def test_outlier_detection_ejects_a_target_answering_5xx(tmp_path):
    port = free_port()
    outlier = {
        "maxServerErrors": 2,
        "maxEjectionPercent": 100,
        "interval": {"unit": "s", "value": 10},
        "baseEjectionDuration": {"unit": "s", "value": 30},
    }
    front = _node("front-vn", free_port())
    front["spec"]["backends"] = [{"virtualService": {"virtualServiceName": SERVICE}}]
    resources = [
        {"meshName": MESH},
        front,
        _node("bad-vn", port, outlierDetection=outlier),
        {
            "meshName": MESH,
            "virtualServiceName": SERVICE,
            "spec": {"provider": {"virtualNode": {"virtualNodeName": "bad-vn"}}},
        },
    ]
    envoy = EnvoyProcess()
    with serving(TARGET_HOST, port, status=500):
        async with running_node(tmp_path, envoy, resources, NODE, loopback_translator(egress=port)):
            url = f"http://127.0.0.1:{port}/"
            assert await _eventually(_status(url, SERVICE), timeout=10) == 500
            await asyncio.to_thread(_get, url, SERVICE)  # the second consecutive 5xx
            status, body = await envoy.admin_get(
                "/stats?filter=outlier_detection.ejections_enforced_total"
            )
            assert status == 200, body
    cluster = f"cluster.cds_egress_{MESH}_bad-vn_http_{port}"
    assert f"{cluster}.outlier_detection.ejections_enforced_total: 1" in body.decode(), body


def _status(url: str, host: str):
    async def check():
        try:
            return await asyncio.to_thread(_get, url, host)
        except OSError:
            return None  # the listener is not there yet

    return check
