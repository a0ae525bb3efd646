"""Cloud Map register/deregister changes what a real Envoy routes to (issue 9, awsCloudMap).

AWS cannot be reached from tests: moto's servicediscovery server, started here on loopback, stands
in for AWS Cloud Map (tests/support/cloudmap.py); the control plane reaches it through boto3 and
the standard AWS_* variables only. front-vn's backend is provided by color-vn, discovered through
Cloud Map; its instances are two small HTTP servers on 127.0.0.4 and 127.0.0.5 (same port, the
listener's) answering their own colour. The egress listener is moved onto that port on 127.0.0.1
(tests/support/loopback.py), so a request to it takes the path a redirected one would.
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

MESH, NS, SVC = "cm", "cm.local", "color"
SERVICE = "color.cm.local"
NODE = f"mesh/{MESH}/virtualNode/front-vn"
INSTANCES = {"red": "127.0.0.4", "blue": "127.0.0.5"}


def _mesh(port: int) -> list[dict]:
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
            "spec": {
                "listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
                "serviceDiscovery": {"awsCloudMap": {"namespaceName": NS, "serviceName": SVC}},
            },
        },
        {
            "meshName": MESH,
            "virtualServiceName": SERVICE,
            "spec": {"provider": {"virtualNode": {"virtualNodeName": "color-vn"}}},
        },
    ]


@contextlib.contextmanager
def colour_servers(port: int):
    with contextlib.ExitStack() as apps:
        for colour, host in INSTANCES.items():
            apps.enter_context(http_app(host, port, answering(colour.encode())))
        yield


def _get(port: int) -> str | None:
    return get_body(port, SERVICE)


async def _colours(port: int, tries: int = 12) -> set[str | None]:
    return {await asyncio.to_thread(_get, port) for _ in range(tries)}


async def _until(port: int, want: set, timeout: float = 15.0) -> set:
    deadline = asyncio.get_running_loop().time() + timeout
    while (seen := await _colours(port)) != want:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    return seen


async def test_cloud_map_register_and_deregister_change_what_envoy_routes_to(tmp_path, monkeypatch):
    find_envoy_binary()
    port = free_port()
    mesh_file = tmp_path / "mesh.json"
    mesh_file.write_text(json.dumps(_mesh(port)))
    envoy = EnvoyProcess()
    with fake_cloud_map() as cloud_map, colour_servers(port):
        for key, value in cloud_map.env.items():
            monkeypatch.setenv(key, value)
        cloud_map.register(NS, SVC, "red-1", AWS_INSTANCE_IPV4=INSTANCES["red"])
        plane = ControlPlane(
            Endpoint(host="127.0.0.1", port=0),
            mesh_file=FileMeshSource(mesh_file, interval=0.05),
            translate=loopback_translator(egress=port),
            cloud_map_interval=0.2,
        )
        async with plane:
            try:
                await envoy.start_node(NODE, f"127.0.0.1:{plane.xds_port}")
                assert await _until(port, {"red"}) == {"red"}
                cloud_map.register(NS, SVC, "blue-1", AWS_INSTANCE_IPV4=INSTANCES["blue"])
                assert await _until(port, {"red", "blue"}) == {"red", "blue"}
                cloud_map.deregister(NS, SVC, "red-1")
                assert await _until(port, {"blue"}) == {"blue"}
                cloud_map.deregister(NS, SVC, "blue-1")
                assert await _until(port, {None}) == {None}  # no endpoint: Envoy answers 503
            finally:
                await envoy.stop()
