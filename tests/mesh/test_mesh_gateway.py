"""Virtual gateways (issue 9): translation pinned in goldens, accepted by the real Envoy
(`envoy --mode validate`), and the model's and translation's rules for gateways."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToDict

from proxyinit.contract import NodeId
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds.types import CLUSTER, LISTENER, ROUTE
from tests.mesh.gateway_scenarios import (
    GATEWAY,
    GATEWAY_SCENARIOS,
    gateway,
    gateway_resources,
    gateway_route,
    listener,
    target,
)
from tests.mesh.mesh_envoy_check import envoy_validate, with_real_certs
from tests.mesh.mesh_golden import render
from tests.mesh.mesh_scenarios import MESH, TELLER, base, route
from tests.support.golden import check_golden

GOLDEN = Path(__file__).parent / "golden"
GW = NodeId(MESH, GATEWAY, "virtualGateway")


def _translate(resources) -> dict:
    return translate_node(parse_resources(resources)[MESH], GW)


@pytest.mark.parametrize("scenario", sorted(GATEWAY_SCENARIOS))
def test_gateway_translation_matches_golden(scenario):
    text = render(_translate(gateway_resources(scenario)))
    check_golden(GOLDEN / scenario / f"{GATEWAY}.json", text)


@pytest.mark.envoy
@pytest.mark.parametrize("scenario", sorted(GATEWAY_SCENARIOS))
def test_envoy_accepts_every_gateway(scenario, tmp_path):
    resources = with_real_certs(gateway_resources(scenario), tmp_path)
    result = envoy_validate(_translate(resources), tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{scenario}: {output[-3000:]}"
    assert "deprecated" not in output.lower(), f"{scenario}: {output[-3000:]}"


def _routes(resources) -> list[dict]:
    (config,) = _translate(resources)[ROUTE]
    return MessageToDict(config)["virtualHosts"][0]["routes"]


def test_default_rewrites_host_to_the_service_and_the_prefix_to_slash():
    routes = _routes(gateway_resources("gateway_ingress"))
    # /color/1 -> /1 first, then /color -> / (so /color/1 never becomes //1)
    assert [(r["match"]["prefix"], r["route"]["prefixRewrite"]) for r in routes] == [
        ("/color/", "/"),
        ("/color", "/"),
    ]
    assert {r["route"]["hostRewriteLiteral"] for r in routes} == {TELLER}


def test_priority_then_specificity_orders_the_routes():
    names = [r["name"] for r in _routes(gateway_resources("gateway_rewrites"))]
    # old-path first (priority 1); at priority 5 the longer prefix /keep/ before /v1/
    assert names == ["old-path", "keep-prefix", "new-prefix", "catch-all"]


def test_a_gateway_listens_on_its_own_ports_without_redirection():
    listeners = _translate(gateway_resources("gateway_protocols"))[LISTENER]
    assert [(x.name, x.address.socket_address.port_value) for x in listeners] == [
        ("lds_ingress_0.0.0.0_8080", 8080),
        ("lds_ingress_0.0.0.0_8443", 8443),
    ]
    assert all(not x.listener_filters for x in listeners)  # no original_dst: nothing redirects


def _refused(resources, *words):
    with pytest.raises(ConfigError) as err:
        parse_resources(resources)
    for word in words:
        assert word in str(err.value), str(err.value)


def test_gateway_route_rules_are_enforced_naming_the_field():
    resources = base() + [gateway(listener(8080, "http"))]
    _refused(
        resources
        + [
            gateway_route("r", {"httpRoute": {"match": {"prefix": "/"}, "action": target("ghost")}})
        ],
        "GatewayRoute 'r'",
        "action.target.virtualService.virtualServiceName",
        "'ghost'",
    )
    _refused(
        resources
        + [gateway_route("r", {"http2Route": {"match": {"prefix": "/"}, "action": target()}})],
        "no listener of virtual gateway 'ingress-gw' serves a 'http2'",
    )
    _refused(
        base()
        + [gateway_route("r", {"httpRoute": {"match": {"prefix": "/"}, "action": target()}})],
        "virtualGatewayName",
        "no virtual gateway of that name",
    )
    _refused(
        resources
        + [
            gateway_route(
                "r",
                {
                    "httpRoute": {
                        "match": {"prefix": "/"},
                        "action": target(rewrite={"path": {"exact": "/x"}}),
                    }
                },
            )
        ],
        "action.rewrite.path needs match.path",
    )
    _refused(
        base() + [gateway(listener(8080, "http"), listener(8080, "http2"))],
        "spec.listeners[1].portMapping.port",
        "two listeners on the same port",
    )
    _refused(
        base() + [gateway(listener(8080, "http", connectionPool={"http2": {"maxRequests": 1}}))],
        "connectionPool is given for 'http2'",
    )


@pytest.mark.envoy
def test_a_gateway_listener_check_replaces_the_target_nodes_own_on_its_copy(tmp_path):
    # Found by the walkthrough replay (howto-circuit-breakers with a gateway healthCheck): two
    # unnamed health checks on one cluster are a NACK.
    resources = gateway_resources("gateway_protocols")
    check = {"protocol": "tcp", "healthyThreshold": 2, "unhealthyThreshold": 2}
    check |= {"intervalMillis": 7000, "timeoutMillis": 2000}
    for item in resources:
        if item.get("virtualNodeName") == "picker-vn" and "virtualRouterName" not in item:
            item["spec"]["listeners"][0]["healthCheck"] = check
    translated = _translate(resources)
    via = [c for c in translated[CLUSTER] if "picker-vn" in c.name and "_via_" in c.name]
    assert via and all(len(c.health_checks) == 1 for c in via)
    assert all(c.health_checks[0].HasField("grpc_health_check") for c in via)  # the gateway's
    result = envoy_validate(translated, tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def _blue_only(match: dict) -> list[dict]:
    resources = gateway_resources("gateway_ingress")
    action = {"weightedTargets": [{"virtualNode": "colorteller-blue-vn", "weight": 1}]}
    spec = {"httpRoute": {"match": match, "action": action}}
    return [*resources, route("colorteller-vr", "blue-only", spec)]


def test_a_router_route_matching_a_path_behind_a_gateway_applies_to_the_forwarded_path():
    # howto-ingress-enhancements: the router's prefix applies to the path the gateway forwards
    # (`/color/blue/1` -> `/blue/1`), so the gateway matches `/color/blue` and rewrites it.
    routes = _routes(_blue_only({"prefix": "/blue"}))
    pairs = [
        (r["match"].get("prefix") or r["match"]["path"], r["route"]["prefixRewrite"])
        for r in routes
    ]
    assert pairs.index(("/color/blue", "/blue")) < pairs.index(("/color/", "/"))
    assert pairs.index(("/colorblue", "/blue")) < pairs.index(("/color", "/"))
    routes = _routes(_blue_only({"path": {"exact": "/blue/1"}}))
    assert ("/color/blue/1", "/blue/1") in [
        (r["match"].get("path"), r["route"]["prefixRewrite"]) for r in routes
    ]


def test_a_router_route_matching_a_regex_path_behind_a_gateway_is_refused_not_misrouted():
    with pytest.raises(ConfigError, match="'blue-only' matching on a regex path"):
        _translate(_blue_only({"path": {"regex": "^/blue.*$"}}))


def test_gateway_node_ids_parse_and_key_the_ads_stream():
    from envoy.config.core.v3 import base_pb2

    from proxyinit.controlplane.plane import app_mesh_node_key

    node = NodeId.parse("mesh/default/virtualGateway/colorapp-gw")
    assert (node.mesh, node.node, node.kind, node.is_gateway) == (
        "default",
        "colorapp-gw",
        "virtualGateway",
        True,
    )
    assert str(node) == "mesh/default/virtualGateway/colorapp-gw"
    assert NodeId("m", "n") == NodeId.parse("mesh/m/virtualNode/n")  # nodes unchanged
    assert app_mesh_node_key(base_pb2.Node(id=str(node))) == str(node)
    with pytest.raises(ConfigError, match="virtualGateway/<gateway>"):
        NodeId.parse("mesh/default/virtualRouter/r")
