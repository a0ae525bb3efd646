"""VirtualGateway and GatewayRoute (issue 9) through the real aws CLI and a real server, as App
Mesh's ingress walkthroughs (howto-ingress-gateway, colorapp ECS) call them: CRUD, List, tags,
refusals naming the field, and the API Reference's delete constraints for gateways."""

from __future__ import annotations

import json

import pytest

MESH = "ingress"
GATEWAY_SPEC = {
    "listeners": [
        {
            "portMapping": {"port": 8080, "protocol": "http"},
            "healthCheck": {
                "protocol": "http",
                "path": "/ready",
                "healthyThreshold": 2,
                "unhealthyThreshold": 2,
                "intervalMillis": 5000,
                "timeoutMillis": 2000,
            },
            "connectionPool": {"http": {"maxConnections": 100, "maxPendingRequests": 10}},
        }
    ],
    "backendDefaults": {"clientPolicy": {}},
    "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}},
}
ROUTE_SPEC = {
    "priority": 10,
    "httpRoute": {
        "match": {"prefix": "/color", "hostname": {"suffix": ".example.com"}, "method": "GET"},
        "action": {
            "target": {"virtualService": {"virtualServiceName": "color.ingress.local"}},
            "rewrite": {
                "prefix": {"value": "/paint/"},
                "hostname": {"defaultTargetHostname": "DISABLED"},
            },
        },
    },
}
M = ("--mesh-name", MESH)
G = (*M, "--virtual-gateway-name", "ingress-gw")


def _mesh(server) -> None:
    server.aws("create-mesh", *M)
    node = {
        "listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": "color.ingress.local"}},
    }
    server.aws(
        "create-virtual-node", *M, "--virtual-node-name", "color-vn", "--spec", json.dumps(node)
    )
    provider = {"provider": {"virtualNode": {"virtualNodeName": "color-vn"}}}
    server.aws(
        "create-virtual-service",
        *M,
        "--virtual-service-name",
        "color.ingress.local",
        "--spec",
        json.dumps(provider),
    )


@pytest.fixture
def gateway_server(server):
    _mesh(server)
    return server


def test_gateway_and_route_crud_list_and_tags(gateway_server):
    s = gateway_server
    assert s.aws("list-virtual-gateways", *M).json["virtualGateways"] == []
    created = s.aws(
        "create-virtual-gateway",
        *G,
        "--spec",
        json.dumps(GATEWAY_SPEC),
        "--tags",
        "key=team,value=edge",
    ).json["virtualGateway"]
    assert created["spec"] == GATEWAY_SPEC
    assert created["metadata"]["arn"].endswith(":mesh/ingress/virtualGateway/ingress-gw")
    assert created["status"] == {"status": "ACTIVE"}
    assert s.aws("describe-virtual-gateway", *G).json["virtualGateway"]["spec"] == GATEWAY_SPEC
    listed = s.aws("list-virtual-gateways", *M).json["virtualGateways"]
    assert [(g["virtualGatewayName"], g["meshName"]) for g in listed] == [("ingress-gw", MESH)]

    route = s.aws(
        "create-gateway-route",
        *G,
        "--gateway-route-name",
        "color-gr",
        "--spec",
        json.dumps(ROUTE_SPEC),
    ).json["gatewayRoute"]
    assert route["spec"] == ROUTE_SPEC
    assert route["virtualGatewayName"] == "ingress-gw"
    arn = route["metadata"]["arn"]
    assert arn.endswith(":mesh/ingress/virtualGateway/ingress-gw/gatewayRoute/color-gr")
    routes = s.aws("list-gateway-routes", *G).json["gatewayRoutes"]
    assert [(r["gatewayRouteName"], r["virtualGatewayName"]) for r in routes] == [
        ("color-gr", "ingress-gw")
    ]
    s.aws("tag-resource", "--resource-arn", arn, "--tags", "key=path,value=color")
    tags = s.aws("list-tags-for-resource", "--resource-arn", arn).json["tags"]
    assert tags == [{"key": "path", "value": "color"}]

    updated_spec = {**ROUTE_SPEC, "priority": 5}
    updated = s.aws(
        "update-gateway-route",
        *G,
        "--gateway-route-name",
        "color-gr",
        "--spec",
        json.dumps(updated_spec),
    ).json["gatewayRoute"]
    assert (updated["spec"]["priority"], updated["metadata"]["version"]) == (5, 2)
    gone = s.aws("delete-gateway-route", *G, "--gateway-route-name", "color-gr").json
    assert gone["gatewayRoute"]["status"] == {"status": "DELETED"}
    assert (
        s.aws("delete-virtual-gateway", *G).json["virtualGateway"]["status"]["status"] == "DELETED"
    )
    assert s.aws("list-virtual-gateways", *M).json["virtualGateways"] == []


def _error(result) -> str:
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_delete_constraints_for_gateways(gateway_server):
    """API Reference: a gateway with gateway routes, and a virtual service a gateway route
    targets, cannot be deleted (ResourceInUse); once the route is gone both can."""
    s = gateway_server
    s.aws("create-virtual-gateway", *G, "--spec", json.dumps(GATEWAY_SPEC))
    s.aws(
        "create-gateway-route",
        *G,
        "--gateway-route-name",
        "color-gr",
        "--spec",
        json.dumps(ROUTE_SPEC),
    )
    message = _error(s.aws("delete-virtual-gateway", *G, check=False))
    assert "ResourceInUseException" in message and "color-gr" in message
    message = _error(
        s.aws(
            "delete-virtual-service",
            *M,
            "--virtual-service-name",
            "color.ingress.local",
            check=False,
        )
    )
    assert "ResourceInUseException" in message and "ingress-gw/color-gr" in message
    s.aws("delete-gateway-route", *G, "--gateway-route-name", "color-gr")
    s.aws("delete-virtual-service", *M, "--virtual-service-name", "color.ingress.local")
    s.aws("delete-virtual-gateway", *G)


@pytest.mark.parametrize(
    "spec, code, words",
    [
        (
            {
                "httpRoute": {
                    "match": {"prefix": "/"},
                    "action": {"target": {"virtualService": {"virtualServiceName": "ghost.local"}}},
                }
            },
            "BadRequestException",
            "action.target.virtualService.virtualServiceName",
        ),
        (
            {
                "grpcRoute": {
                    "match": {"serviceName": "a.B"},
                    "action": {
                        "target": {"virtualService": {"virtualServiceName": "color.ingress.local"}}
                    },
                }
            },
            "BadRequestException",
            "no listener of virtual gateway 'ingress-gw' serves a 'grpc'",
        ),
        (
            {
                "httpRoute": {
                    "match": {"prefix": "/"},
                    "action": {
                        "target": {
                            "virtualService": {"virtualServiceName": "color.ingress.local"},
                            "port": 9999,
                        }
                    },
                }
            },
            "BadRequestException",
            "action.target.port",
        ),
        (
            {
                "httpRoute": {
                    "match": {"path": {"exact": "/a"}},
                    "action": {
                        "target": {"virtualService": {"virtualServiceName": "color.ingress.local"}},
                        "rewrite": {"prefix": {"defaultPrefix": "DISABLED"}},
                    },
                }
            },
            "BadRequestException",
            "action.rewrite.prefix needs match.prefix",
        ),
    ],
)
def test_bad_gateway_routes_are_refused_naming_the_field(gateway_server, spec, code, words):
    s = gateway_server
    s.aws("create-virtual-gateway", *G, "--spec", json.dumps(GATEWAY_SPEC))
    message = _error(
        s.aws(
            "create-gateway-route",
            *G,
            "--gateway-route-name",
            "bad",
            "--spec",
            json.dumps(spec),
            check=False,
        )
    )
    assert code in message and words in message, message
    assert s.aws("list-gateway-routes", *G).json["gatewayRoutes"] == []


def test_gateway_route_needs_its_gateway(gateway_server):
    message = _error(
        gateway_server.aws(
            "create-gateway-route",
            *G,
            "--gateway-route-name",
            "r",
            "--spec",
            json.dumps(ROUTE_SPEC),
            check=False,
        )
    )
    assert "NotFoundException" in message and "ingress-gw" in message
    message = _error(gateway_server.aws("list-gateway-routes", *G, check=False))
    assert "NotFoundException" in message


TLS_LISTENER = {
    **GATEWAY_SPEC["listeners"][0],
    "tls": {
        "mode": "STRICT",
        "certificate": {
            "acm": {"certificateArn": "arn:aws:acm:us-west-2:111122223333:certificate/gw"}
        },
        "validation": {
            "trust": {"file": {"certificateChain": "/certs/ca.pem"}},
            "subjectAlternativeNames": {"match": {"exact": ["client.example.com"]}},
        },
    },
}
CLIENT_POLICY = {
    "tls": {
        "enforce": True,
        "ports": [9080],
        "certificate": {"sds": {"secretName": "gw-client"}},
        "validation": {"trust": {"acm": {"certificateAuthorityArns": ["arn:aws:acm-pca:x"]}}},
    }
}


def test_gateway_listener_tls_and_client_policy_are_stored_as_given(gateway_server):
    spec = {"listeners": [TLS_LISTENER], "backendDefaults": {"clientPolicy": CLIENT_POLICY}}
    created = gateway_server.aws("create-virtual-gateway", *G, "--spec", json.dumps(spec))
    assert created.json["virtualGateway"]["spec"] == spec


def test_mesh_apply_imports_gateways_and_is_idempotent(tmp_path):
    """A mesh file with a gateway and its routes (`mesh apply --db`), then served by the API."""
    from tests.api.conftest import Server
    from tests.api.test_api_apply import apply
    from tests.mesh.gateway_scenarios import gateway_resources

    mesh_file = tmp_path / "mesh.json"
    mesh_file.write_text(json.dumps(gateway_resources("gateway_rewrites")))
    db = tmp_path / "seed.db"
    first = apply("-f", str(mesh_file), "--db", str(db))
    assert first.returncode == 0, first.stderr
    assert "created   VirtualGateway default/ingress-gw" in first.stdout
    assert "created   GatewayRoute default/ingress-gw/old-path" in first.stdout
    again = apply("-f", str(mesh_file), "--db", str(db))
    assert "created" not in again.stdout and "updated" not in again.stdout, again.stdout
    server = Server(db)
    server.start()
    try:
        gateway = ("--mesh-name", "default", "--virtual-gateway-name", "ingress-gw")
        routes = server.aws("list-gateway-routes", *gateway).json["gatewayRoutes"]
        assert sorted(r["gatewayRouteName"] for r in routes) == [
            "catch-all",
            "keep-prefix",
            "new-prefix",
            "old-path",
        ]
    finally:
        server.stop()
