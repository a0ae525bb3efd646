"""App Mesh fields beyond the walkthrough (issue 9) through the real aws CLI and a real server:
what App Mesh accepted is accepted and described back unchanged, what it refused is a
BadRequestException naming the field, and the store keeps App Mesh's delete constraints."""

from __future__ import annotations

import json

import pytest

MESH = "parity"
HEALTH = {
    "protocol": "http",
    "path": "/ping",
    "healthyThreshold": 2,
    "unhealthyThreshold": 3,
    "intervalMillis": 5000,
    "timeoutMillis": 2000,
}


def node_spec(port: int = 9080, protocol: str = "http", hostname: str = "app.local", **listener):
    return {
        "listeners": [{"portMapping": {"port": port, "protocol": protocol}, **listener}],
        "serviceDiscovery": {"dns": {"hostname": hostname}},
    }


def create_node(server, name: str, spec: dict, check: bool = True):
    return server.aws(
        "create-virtual-node",
        "--mesh-name",
        MESH,
        "--virtual-node-name",
        name,
        "--spec",
        json.dumps(spec),
        check=check,
    )


@pytest.fixture(scope="module")
def mesh_server(shared_server):
    shared_server.aws("create-mesh", "--mesh-name", MESH)
    return shared_server


def test_listener_health_check_is_accepted_and_described(mesh_server):
    spec = node_spec(healthCheck=HEALTH)
    created = create_node(mesh_server, "health-vn", spec).json["virtualNode"]
    assert created["spec"]["listeners"][0]["healthCheck"] == HEALTH
    described = mesh_server.aws(
        "describe-virtual-node", "--mesh-name", MESH, "--virtual-node-name", "health-vn"
    ).json["virtualNode"]
    assert described["spec"] == created["spec"]


def test_bad_health_check_is_a_bad_request_naming_the_field(mesh_server):
    # The aws CLI checks the model's ranges itself; a missing http path is the server's rule.
    spec = node_spec(healthCheck={k: v for k, v in HEALTH.items() if k != "path"})
    result = create_node(mesh_server, "bad-health-vn", spec, check=False)
    assert "(BadRequestException)" in result.stderr
    assert "healthCheck" in result.stderr and "path is required" in result.stderr
    missing = mesh_server.aws(
        "describe-virtual-node",
        "--mesh-name",
        MESH,
        "--virtual-node-name",
        "bad-health-vn",
        check=False,
    )
    assert "(NotFoundException)" in missing.stderr


def test_route_match_with_only_port_is_accepted(mesh_server):
    create_node(mesh_server, "port-vn", node_spec(hostname="port.local"))
    mesh_server.aws(
        "create-virtual-router",
        "--mesh-name",
        MESH,
        "--virtual-router-name",
        "port-vr",
        "--spec",
        json.dumps({"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}]}),
    )
    spec = {
        "httpRoute": {
            "match": {"port": 9080},
            "action": {"weightedTargets": [{"virtualNode": "port-vn", "weight": 1}]},
        }
    }
    route = mesh_server.aws(
        "create-route",
        "--mesh-name",
        MESH,
        "--virtual-router-name",
        "port-vr",
        "--route-name",
        "by-port",
        "--spec",
        json.dumps(spec),
    ).json["route"]
    assert route["spec"]["httpRoute"]["match"] == {"port": 9080}
