"""Translation unit tests: names, references, egress filter, loop guard, defaults, round trips."""

from __future__ import annotations

import pytest
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import json_format

from proxyinit.contract import NodeId
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds.snapshot import Snapshot
from proxyinit.xds.types import CLUSTER, ENDPOINT, LISTENER, PUSH_ORDER, ROUTE, SECRET
from tests.mesh.mesh_scenarios import MESH, SCENARIOS, base, scenario_resources

GATEWAY = NodeId(MESH, "colorgateway-vn")


def _translate(scenario: str, node: NodeId = GATEWAY) -> dict:
    return translate_node(parse_resources(scenario_resources(scenario))[MESH], node)


def _listener(resources: dict, name: str):
    return next(item for item in resources[LISTENER] if item.name == name)


def _unpack(filter_, cls):
    message = cls()
    assert filter_.typed_config.Unpack(message), filter_.name
    return message


def _chain_ports(listener) -> dict[int, object]:
    return {c.filter_chain_match.destination_port.value: c for c in listener.filter_chains}


def test_keys_are_the_xds_type_urls():
    # Secrets only for a node whose spec names a certificate the control plane serves.
    assert set(_translate("colorapp")) == set(PUSH_ORDER) - {SECRET}
    assert _translate("colorapp")[ENDPOINT] == []


def test_colorapp_gateway_names_follow_app_mesh():
    resources = _translate("colorapp")
    assert [item.name for item in resources[LISTENER]] == [
        "lds_dns_127.0.0.1_15053",  # ours: DNS capture (translate/dns.py)
        "lds_dns_tcp_127.0.0.1_15053",
        "lds_egress_0.0.0.0_15001",
        "lds_ingress_0.0.0.0_15000",
    ]
    assert [r.name for r in resources[ROUTE]] == ["rds_egress_http_9080", "rds_ingress_http_9080"]
    assert [c.name for c in resources[CLUSTER]] == [
        "cds_dns_tcp_passthrough",  # ours: DNS over TCP relayed (translate/dns.py)
        "cds_egress_default_colorteller-vn_http_9080",
        "cds_ingress_default_colorgateway-vn_http_9080",
    ]


def test_ingress_goes_to_the_local_app_on_loopback():
    resources = _translate("colorapp")
    ingress = next(c for c in resources[CLUSTER] if c.name.startswith("cds_ingress"))
    address = ingress.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    assert (address.address, address.port_value) == ("127.0.0.1", 9080)
    listener = _listener(resources, "lds_ingress_0.0.0.0_15000")
    assert listener.address.socket_address.address == "0.0.0.0"
    assert listener.listener_filters[0].name == "envoy.filters.listener.original_dst"
    manager = _unpack(_chain_ports(listener)[9080].filters[0], hcm_pb2.HttpConnectionManager)
    assert manager.rds.route_config_name == "rds_ingress_http_9080"


def test_egress_virtual_host_domains_and_weights():
    resources = _translate("blue_red")
    host = resources[ROUTE][0].virtual_hosts[0]
    assert list(host.domains) == [
        "colorteller.default.svc.cluster.local",
        "colorteller.default.svc.cluster.local:9080",
    ]
    weights = [(c.name, c.weight.value) for c in host.routes[0].route.weighted_clusters.clusters]
    assert weights == [
        ("cds_egress_default_colorteller-blue-vn_http_9080", 8),
        ("cds_egress_default_colorteller-red-vn_http_9080", 2),
    ]


@pytest.mark.parametrize("listener_name", ["lds_ingress_0.0.0.0_15000", "lds_egress_0.0.0.0_15001"])
@pytest.mark.parametrize("scenario", ["colorapp", "allow_all"])
def test_loop_guard_refuses_the_proxy_ports(scenario, listener_name):
    chains = _chain_ports(_listener(_translate(scenario), listener_name))
    for port in (15000, 15001):
        rbac = _unpack(chains[port].filters[0], rbac_pb2.RBAC)
        assert rbac.rules.action == rbac.rules.DENY
        assert chains[port].filters[-1].name == "envoy.filters.network.direct_response"


def test_drop_all_refuses_undeclared_destinations():
    resources = _translate("colorapp")
    default = _listener(resources, "lds_egress_0.0.0.0_15001").default_filter_chain
    assert _unpack(default.filters[0], rbac_pb2.RBAC).rules.action == rbac_pb2.RBAC().rules.DENY
    assert all(host.domains[0] != "*" for host in resources[ROUTE][0].virtual_hosts)
    assert "cds_egress_passthrough" not in {c.name for c in resources[CLUSTER]}


def test_allow_all_passes_undeclared_destinations_through():
    resources = _translate("allow_all")
    default = _listener(resources, "lds_egress_0.0.0.0_15001").default_filter_chain
    assert _unpack(default.filters[0], tcp_proxy_pb2.TcpProxy).cluster == "cds_egress_passthrough"
    egress_routes = next(r for r in resources[ROUTE] if r.name == "rds_egress_http_9080")
    assert list(egress_routes.virtual_hosts[-1].domains) == ["*"]
    passthrough = next(c for c in resources[CLUSTER] if c.name == "cds_egress_passthrough")
    assert passthrough.type == passthrough.ORIGINAL_DST


def test_app_mesh_default_timeout_and_retries():
    action = _translate("colorapp")[ROUTE][0].virtual_hosts[0].routes[0].route
    assert action.timeout.seconds == 15
    assert action.retry_policy.num_retries.value == 2
    assert list(action.retry_policy.retriable_status_codes) == [503]
    assert "connect-failure" in action.retry_policy.retry_on


def test_given_retry_and_timeout_are_honoured():
    action = _translate("retry_timeout")[ROUTE][0].virtual_hosts[0].routes[0].route
    assert (action.timeout.seconds, action.idle_timeout.seconds) == (30, 60)
    assert action.retry_policy.num_retries.value == 3
    assert action.retry_policy.per_try_timeout.ToMilliseconds() == 2500
    assert action.retry_policy.retry_on == "5xx,reset,gateway-error,refused-stream,connect-failure"


def test_routes_are_ordered_by_priority_then_specificity():
    host = _translate("headers_method")[ROUTE][0].virtual_hosts[0]
    assert [r.name for r in host.routes] == [
        "colorteller-blue-header",
        "colorteller-route",
        "colorteller-red-path",
    ]


def test_tcp_route_uses_weighted_tcp_proxy():
    listener = _listener(_translate("tcp_route"), "lds_egress_0.0.0.0_15001")
    proxy = _unpack(_chain_ports(listener)[5432].filters[0], tcp_proxy_pb2.TcpProxy)
    assert [(c.name, c.weight) for c in proxy.weighted_clusters.clusters] == [
        ("cds_egress_default_colordb-vn_tcp_5432", 3),
        ("cds_egress_default_colordb-replica-vn_tcp_5432", 1),
    ]


def test_grpc_route_matches_service_and_method():
    routes = next(r for r in _translate("grpc_route")[ROUTE] if r.name == "rds_egress_http_9090")
    first = routes.virtual_hosts[0].routes[0]
    assert first.match.path == "/color.Picker/Pick" and first.match.HasField("grpc")
    assert first.route.retry_policy.retry_on == "unavailable,resource-exhausted"
    cluster = next(
        c
        for c in _translate("grpc_route")[CLUSTER]
        if c.name == "cds_egress_default_colorpicker-vn_grpc_9090"
    )
    assert (
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        in cluster.typed_extension_protocol_options
    )


def test_dns_response_type_picks_the_cluster_type():
    clusters = {c.name: c for c in _translate("http2_endpoints")[CLUSTER]}
    assert (
        clusters["cds_egress_default_colorteller-vn_http2_9080"].type
        == clusters["cds_egress_default_colorteller-vn_http2_9080"].STRICT_DNS
    )
    assert {c.type for c in _translate("colorapp")[CLUSTER] if c.name.startswith("cds_egress")} == {
        clusters["cds_egress_default_colorteller-vn_http2_9080"].LOGICAL_DNS
    }


def test_node_provided_service_is_a_single_cluster_route():
    action = _translate("node_provider")[ROUTE][0].virtual_hosts[0].routes[0].route
    assert action.cluster == "cds_egress_default_colorteller-vn_http_9080"
    assert action.retry_policy.num_retries.value == 2


def test_unknown_node_is_a_config_error_naming_it():
    model = parse_resources(base())[MESH]
    with pytest.raises(ConfigError, match="ghost-vn"):
        translate_node(model, NodeId(MESH, "ghost-vn"))
    with pytest.raises(ConfigError, match="other"):
        translate_node(model, NodeId("other", "colorgateway-vn"))


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_node_translates_consistently_and_round_trips(scenario):
    model = parse_resources(scenario_resources(scenario))[MESH]
    for name in model.nodes:
        resources = translate_node(model, NodeId(MESH, name))
        Snapshot(resources)  # raises InconsistentSnapshotError on a dangling reference
        for messages in resources.values():
            for message in messages:
                again = type(message).FromString(message.SerializeToString())
                assert again == message
                # Compared as JSON: parsing packs each Any again, and a map inside one (a json
                # access log format) comes out in another byte order than our deterministic pack.
                parsed = json_format.Parse(json_format.MessageToJson(message), type(message)())
                assert json_format.MessageToJson(
                    parsed, sort_keys=True
                ) == json_format.MessageToJson(message, sort_keys=True)


def test_backend_service_not_created_yet_is_accepted_then_routed_once_it_exists():
    """App Mesh does not validate backend existence (nodes before services is the usual order)."""
    # Without the services (and the gateway route, whose target must exist, as in App Mesh).
    resources = [
        r
        for r in scenario_resources("colorapp")
        if "virtualServiceName" not in r and "gatewayRouteName" not in r
    ]
    early = translate_node(parse_resources(resources)[MESH], GATEWAY)
    assert all(
        "colorteller" not in c.name for c in early[CLUSTER] if c.name.startswith("cds_egress")
    )
    later = _translate("colorapp")
    assert "cds_egress_default_colorteller-vn_http_9080" in [c.name for c in later[CLUSTER]]


def test_backend_service_without_provider_is_accepted_and_not_routed():
    """`provider` is optional in App Mesh; such a service has nothing to route to yet."""
    resources = scenario_resources("colorapp")
    next(r for r in resources if r.get("virtualServiceName") and "routeName" not in r)["spec"] = {}
    early = translate_node(parse_resources(resources)[MESH], GATEWAY)
    assert all(
        "colorteller" not in c.name for c in early[CLUSTER] if c.name.startswith("cds_egress")
    )
