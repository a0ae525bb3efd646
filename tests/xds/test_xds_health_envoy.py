"""A listener's healthCheck moves a caller's traffic off a stopped instance (issue 9), real Envoy.

App Mesh's clients ran the check: "When configured downstream (client) Envoys will perform active
health checking using the timing and thresholds provided" (aws-app-mesh-roadmap#105; #192: a
health check edit "resolves to a health_check_config update on an Envoy cluster at the client").
front-vn's backend is color-vn, two instances through Cloud Map (moto's servicediscovery on
loopback stands in for AWS), 127.0.0.6 and 127.0.0.7 on the listener's port. The red instance's
app stops: after intervalMillis x unhealthyThreshold front-vn's Envoy marks it failed_active_hc and
sends every request to blue, no longer even trying red (its connect failures stop growing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.controlplane.plane import ControlPlane
from proxyinit.mesh.runtime.envoy import EnvoyProcess, find_envoy_binary
from proxyinit.xds.endpoint import Endpoint
from tests.support.cloudmap import fake_cloud_map
from tests.support.http_app import answering, get_body, http_app
from tests.support.loopback import free_port, loopback_translator

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(90)]

MESH, NS, SVC = "hc", "hc.local", "color"
SERVICE = "color.hc.local"
NODE = f"mesh/{MESH}/virtualNode/front-vn"
INSTANCES = {"red": "127.0.0.6", "blue": "127.0.0.7"}
CHECK = {  # App Mesh's smallest interval; 2 failures: unhealthy ~10 s after the app stops
    "protocol": "http",
    "path": "/ping",
    "healthyThreshold": 2,
    "unhealthyThreshold": 2,
    "intervalMillis": 5000,
    "timeoutMillis": 2000,
}


def _mesh(port: int) -> list[dict]:
    listener = {"portMapping": {"port": port, "protocol": "http"}, "healthCheck": CHECK}
    discovery = {"awsCloudMap": {"namespaceName": NS, "serviceName": SVC}}
    return [
        {"meshName": MESH},
        {
            "meshName": MESH,
            "virtualNodeName": "front-vn",
            "spec": {"backends": [{"virtualService": {"virtualServiceName": SERVICE}}]},
        },
        {
            "meshName": MESH,
            "virtualNodeName": "color-vn",
            "spec": {"listeners": [listener], "serviceDiscovery": discovery},
        },
        {
            "meshName": MESH,
            "virtualServiceName": SERVICE,
            "spec": {"provider": {"virtualNode": {"virtualNodeName": "color-vn"}}},
        },
    ]


def app(host: str, port: int, body: str):
    """A small HTTP app answering `body`; leaving the block stops it (its port then refuses)."""
    return http_app(host, port, answering(body.encode()))


def _get(port: int) -> str | None:
    return get_body(port, SERVICE)


async def _answers(port: int, tries: int = 10) -> list[str | None]:
    return [await asyncio.to_thread(_get, port) for _ in range(tries)]


async def _red_flags(envoy: EnvoyProcess, port: int) -> str:
    status, body = await envoy.admin_get("/clusters")
    assert status == 200, body
    for line in body.decode().splitlines():
        if f"{INSTANCES['red']}:{port}::health_flags::" in line:
            return line.rpartition("::")[2]
    return ""


async def _connect_failures(envoy: EnvoyProcess) -> int:
    status, body = await envoy.admin_get("/stats?filter=upstream_cx_connect_fail$")
    assert status == 200, body
    return sum(
        int(line.rpartition(" ")[2]) for line in body.decode().splitlines() if "egress" in line
    )


async def test_a_stopped_instance_is_health_checked_out_of_the_callers_traffic(
    tmp_path, monkeypatch
):
    find_envoy_binary()
    port = free_port()
    mesh_file = tmp_path / "mesh.json"
    mesh_file.write_text(json.dumps(_mesh(port)))
    envoy = EnvoyProcess()
    red = contextlib.ExitStack()
    with fake_cloud_map() as cloud_map, app(INSTANCES["blue"], port, "blue"), red:
        red.enter_context(app(INSTANCES["red"], port, "red"))
        for key, value in cloud_map.env.items():
            monkeypatch.setenv(key, value)
        for colour, host in INSTANCES.items():
            cloud_map.register(NS, SVC, f"{colour}-1", AWS_INSTANCE_IPV4=host)
        plane = ControlPlane(
            Endpoint(host="127.0.0.1", port=0),
            mesh_file=FileMeshSource(mesh_file, interval=0.05),
            translate=loopback_translator(egress=port),
            cloud_map_interval=0.2,
        )
        async with plane:
            try:
                await envoy.start_node(NODE, f"127.0.0.1:{plane.xds_port}")
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 15
                while not {"red", "blue"} <= set(seen := await _answers(port)):
                    assert loop.time() < deadline, seen
                    await asyncio.sleep(0.2)
                red.close()
                # red's app stopped: the caller's checks fail twice, 5 s apart.
                deadline = loop.time() + 25
                while "failed_active_hc" not in await _red_flags(envoy, port):
                    assert loop.time() < deadline, await envoy.admin_get("/stats?filter=health")
                    await _answers(port, 2)  # traffic keeps the checks at intervalMillis
                failures = await _connect_failures(envoy)
                assert await _answers(port, 20) == ["blue"] * 20
                assert await _connect_failures(envoy) == failures  # red is not even tried
            finally:
                await envoy.stop()
