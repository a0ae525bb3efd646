"""Issue 9 behaviour through a real Envoy on loopback: a listener health check marks a local app
that does not answer as unhealthy (admin /clusters), and the access log file gets one line per
request in the configured JSON format.

No iptables here: the gateway's egress listener is moved (loopback translator) onto the port of
its backend service, so a request to 127.0.0.1:<port> reaches the egress chain of that port as a
redirected one would; the target node's DNS hostname is 127.0.0.2 (loopback), where a small
HTTP server answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import socket
import threading
import urllib.request
from pathlib import Path

import pytest

from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.controlplane.plane import ControlPlane
from proxyinit.mesh.runtime.envoy import EnvoyProcess, find_envoy_binary
from proxyinit.xds.endpoint import Endpoint
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


class _Color(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"purple"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(host: str, port: int):
    server = http.server.ThreadingHTTPServer((host, port), _Color)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def listening(port: int):
    """A local app that accepts TCP connections on 127.0.0.1:port (enough for a tcp check)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(16)
        yield


@pytest.fixture
async def front(tmp_path):
    find_envoy_binary()
    up, down, service_port = free_port(), free_port(), free_port()
    envoy = EnvoyProcess()
    log = envoy.workdir / "access.log"  # the workdir is writable by Envoy's uid
    mesh_file = tmp_path / "mesh.json"
    mesh_file.write_text(json.dumps(mesh(up, down, service_port, log)))
    translate = loopback_translator(egress=service_port)
    control_plane = ControlPlane(
        Endpoint(host="127.0.0.1", port=0),
        mesh_file=FileMeshSource(mesh_file, interval=0.05),
        debug=None,
        translate=translate,
    )
    with listening(up), serving(TARGET_HOST, service_port):
        async with control_plane:
            try:
                await envoy.start_node(NODE, f"127.0.0.1:{control_plane.xds_port}")
                yield envoy, up, down, service_port, log
            finally:
                await envoy.stop()


async def _eventually(check, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_health_check_marks_a_local_app_that_does_not_answer_unhealthy(front):
    envoy, up, down, _, _ = front

    async def flags():
        status, body = await envoy.admin_get("/clusters")
        assert status == 200, body
        out = {}
        for line in body.decode().splitlines():
            if "::health_flags::" in line:
                cluster, _, _, value = line.split("::", 3)
                out[cluster] = value
        want = {f"cds_ingress_{MESH}_front-vn_tcp_{port}" for port in (up, down)}
        return out if want <= set(out) and "healthy" in out.values() else None

    seen = await _eventually(flags)
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
