"""A walkthrough-style replay of App Mesh's ECS colorapp with AWS Cloud Map discovery, through the
real aws CLI and a real `xds serve --db --api`; then every node's and the gateway's served config
is taken by a real Envoy (each ACKs every type, no NACK).

Our own inputs, in the API Reference's shapes, as the ECS CloudFormation examples create them:
virtual nodes discovered through Cloud Map (`namespaceName` the services domain, one Cloud Map
service per app, `ECS_TASK_DEFINITION_FAMILY` telling the colorteller versions apart), a router
with weighted targets, the walkthrough's ingress gateway. AWS cannot be reached from tests: moto's
servicediscovery server, started here on loopback, stands in for AWS Cloud Map.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from proxyinit.mesh.runtime.envoy import EnvoyProcess
from tests.api.conftest import Server
from tests.support.cloudmap import fake_cloud_map
from tests.support.loopback import free_port

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(240)]

MESH, DOMAIN = "appmesh-mesh", "appmesh-mesh.local"
TELLER = f"colorteller.{DOMAIN}"
COLORS = ("white", "black", "red")
HEALTH = {
    "protocol": "http",
    "path": "/ping",
    "healthyThreshold": 2,
    "unhealthyThreshold": 2,
    "intervalMillis": 5000,
    "timeoutMillis": 2000,
}


def _cloud_map(service: str, family: str) -> dict:
    return {
        "awsCloudMap": {
            "namespaceName": DOMAIN,
            "serviceName": service,
            "attributes": [{"key": "ECS_TASK_DEFINITION_FAMILY", "value": family}],
        }
    }


def _node(name: str, discovery: dict, **spec) -> dict:
    listener = {"portMapping": {"port": 9080, "protocol": "http"}, "healthCheck": HEALTH}
    return {
        "meshName": MESH,
        "virtualNodeName": name,
        "spec": {"listeners": [listener], "serviceDiscovery": discovery, **spec},
    }


def _route(weights: dict[str, int]) -> dict:
    targets = [
        {"virtualNode": f"colorteller-{color}-vn", "weight": weight}
        for color, weight in weights.items()
    ]
    return {
        "meshName": MESH,
        "virtualRouterName": "colorteller-vr",
        "routeName": "colorteller-route",
        "spec": {
            "httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": targets}},
        },
    }


def calls(gateway_port: int) -> list[tuple[str, dict]]:
    """(aws appmesh command, --cli-input-json) in the walkthrough's order."""
    backend = {"virtualService": {"virtualServiceName": TELLER}}
    out = [("create-mesh", {"meshName": MESH, "spec": {"egressFilter": {"type": "DROP_ALL"}}})]
    out += [
        (
            "create-virtual-node",
            _node(f"colorteller-{color}-vn", _cloud_map("colorteller", f"colorteller-{color}")),
        )
        for color in COLORS
    ]
    out += [
        (
            "create-virtual-node",
            _node(
                "colorgateway-vn",
                _cloud_map("colorgateway", "colorgateway"),
                backends=[backend],
            ),
        ),
        (
            "create-virtual-router",
            {
                "meshName": MESH,
                "virtualRouterName": "colorteller-vr",
                "spec": {"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}]},
            },
        ),
        ("create-route", _route({"white": 1})),
        (
            "create-virtual-service",
            {
                "meshName": MESH,
                "virtualServiceName": TELLER,
                "spec": {"provider": {"virtualRouter": {"virtualRouterName": "colorteller-vr"}}},
            },
        ),
        ("update-route", _route({"white": 1, "black": 1, "red": 2})),
        (
            "create-virtual-gateway",
            {
                "meshName": MESH,
                "virtualGatewayName": "ingress-gw",
                "spec": {
                    "listeners": [{"portMapping": {"port": gateway_port, "protocol": "http"}}]
                },
            },
        ),
        (
            "create-gateway-route",
            {
                "meshName": MESH,
                "virtualGatewayName": "ingress-gw",
                "gatewayRouteName": "colorteller-gr",
                "spec": {
                    "httpRoute": {
                        "match": {"prefix": "/color"},
                        "action": {"target": {"virtualService": {"virtualServiceName": TELLER}}},
                    }
                },
            },
        ),
        ("describe-virtual-node", {"meshName": MESH, "virtualNodeName": "colorteller-red-vn"}),
        ("list-virtual-nodes", {"meshName": MESH}),
        ("list-gateway-routes", {"meshName": MESH, "virtualGatewayName": "ingress-gw"}),
    ]
    return out


def _all_acked(state: dict, node: str) -> bool:
    streams = state["nodes"].get(node, {}).get("streams", [])
    if not streams:
        return False
    types = streams[-1]["types"]
    for per_type in types.values():
        assert per_type["nacks"] == 0, (node, per_type["last_nack"])
    return {"CDS", "LDS"} <= set(types) and all(
        t["version_acked"] and t["version_acked"] == t["version_sent"] for t in types.values()
    )


async def _envoy_takes(server: Server, node: str) -> dict:
    envoy = EnvoyProcess()
    try:
        await envoy.start_node(node, f"127.0.0.1:{server.xds_port}")
        for _ in range(150):
            state = await asyncio.to_thread(server.debug_state)
            if _all_acked(state, node):
                return state["nodes"][node]["streams"][-1]["types"]
            await asyncio.sleep(0.1)
        raise AssertionError(f"{node}: not every type ACKed: {state['nodes'].get(node)}")
    finally:
        await envoy.stop()


async def test_ecs_colorapp_with_cloud_map_replayed_and_taken_by_real_envoys(tmp_path, monkeypatch):
    with fake_cloud_map() as cloud_map:
        for key, value in cloud_map.env.items():
            monkeypatch.setenv(key, value)
        for index, color in enumerate(COLORS):
            family = {"ECS_TASK_DEFINITION_FAMILY": f"colorteller-{color}"}
            address = {"AWS_INSTANCE_IPV4": f"127.0.0.{10 + index}"}
            cloud_map.register(DOMAIN, "colorteller", f"{color}-1", **family, **address)
        server = Server(tmp_path / "mesh.db")
        server.start()
        try:
            results = [
                await asyncio.to_thread(
                    server.aws, command, "--cli-input-json", json.dumps(body), check=False
                )
                for command, body in calls(free_port())
            ]
            refused = [(r.returncode, r.stderr) for r in results if r.returncode != 0]
            assert not refused, refused
            nodes = [f"mesh/{MESH}/virtualNode/{name}" for name in ("colorgateway-vn",)]
            nodes += [f"mesh/{MESH}/virtualNode/colorteller-{color}-vn" for color in COLORS]
            nodes.append(f"mesh/{MESH}/virtualGateway/ingress-gw")
            taken = {node: await _envoy_takes(server, node) for node in nodes}
        finally:
            server.stop()
    print(f"accepted {len(results)} of {len(results)} calls; {len(taken)} Envoys ACKed")
    # The gateway and colorgateway-vn reach the tellers through Cloud Map: they took EDS too.
    assert "EDS" in taken[f"mesh/{MESH}/virtualNode/colorgateway-vn"]
    assert "EDS" in taken[f"mesh/{MESH}/virtualGateway/ingress-gw"]
