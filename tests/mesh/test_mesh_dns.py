"""The DNS listeners (translate/dns.py): what is answered, with which addresses, on which port;
and the control plane's --dns-port / PROXYINIT_DNS_PORT. Real Envoy: test_mesh_envoy_validate,
tests/xds/test_xds_envoy.py (ACKed) and tests/e2e/test_dns_capture.py (answers queries)."""

from __future__ import annotations

import copy
import ipaddress
import os

import pytest
from envoy.extensions.filters.udp.dns_filter.v3 import dns_filter_pb2

from proxyinit.contract import NodeId
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.dns import service_addresses
from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds.types import LISTENER
from tests.mesh.gateway_scenarios import GATEWAY, gateway_resources
from tests.mesh.mesh_scenarios import MESH, TELLER, base, find
from tests.support.serve import run, serve_command

CLIENT = "colorgateway-vn"  # the walkthrough's node with the colorteller service as backend


def _dns_listeners(resources, node=CLIENT, kind="virtualNode", **options) -> dict:
    model = parse_resources(resources)[MESH]
    out = translate_node(model, NodeId(MESH, node, kind), **options)[LISTENER]
    return {x.name: x for x in out if x.name.startswith("lds_dns_")}


def _table(listener) -> dict[str, list[str]]:
    config = dns_filter_pb2.DnsFilterConfig()
    listener.listener_filters[0].typed_config.Unpack(config)
    domains = config.server_config.inline_dns_table.virtual_domains
    return {d.name: list(d.endpoint.address_list.address) for d in domains}


def test_answers_the_backend_service_with_a_stable_address_in_240_240():
    listeners = _dns_listeners(copy.deepcopy(base()))
    assert set(listeners) == {"lds_dns_127.0.0.1_15053", "lds_dns_tcp_127.0.0.1_15053"}
    table = _table(listeners["lds_dns_127.0.0.1_15053"])
    assert list(table) == [TELLER]
    (address,) = table[TELLER]
    assert ipaddress.ip_address(address) in ipaddress.ip_network("240.240.0.0/16")
    assert table == _table(_dns_listeners(copy.deepcopy(base()))["lds_dns_127.0.0.1_15053"])


def test_forwards_other_names_and_is_authoritative_for_nothing_else():
    listener = _dns_listeners(copy.deepcopy(base()))["lds_dns_127.0.0.1_15053"]
    config = dns_filter_pb2.DnsFilterConfig()
    listener.listener_filters[0].typed_config.Unpack(config)
    assert config.HasField("client_config") and not config.client_config.upstream_resolvers
    assert not config.server_config.inline_dns_table.known_suffixes


@pytest.mark.parametrize(
    ("preference", "families"),
    [(None, {4}), ("IPv4_ONLY", {4}), ("IPv6_ONLY", {6}), ("IPv6_PREFERRED", {4, 6})],
)
def test_aaaa_only_when_the_node_uses_ipv6(preference, families):
    addresses = service_addresses(TELLER, preference)
    assert {ipaddress.ip_address(a).version for a in addresses} == families


def test_ipv6_node_listens_on_ipv6_loopback_too():
    resources = copy.deepcopy(base())
    find(resources, virtualNodeName=CLIENT)["spec"]["serviceDiscovery"]["dns"]["ipPreference"] = (
        "IPv6_PREFERRED"
    )
    listeners = _dns_listeners(resources)
    assert "lds_dns_::1_15053" in listeners
    relay = listeners["lds_dns_tcp_127.0.0.1_15053"]
    assert relay.additional_addresses[0].address.socket_address.address == "::1"


def test_a_missing_service_is_not_answered():
    resources = [r for r in copy.deepcopy(base()) if r.get("virtualServiceName") != TELLER]
    assert _table(_dns_listeners(resources)["lds_dns_127.0.0.1_15053"]) == {}


def test_virtual_gateways_get_no_dns_listener():
    assert _dns_listeners(gateway_resources("gateway_ingress"), GATEWAY, "virtualGateway") == {}


def test_dns_port_option_moves_both_listeners():
    listeners = _dns_listeners(copy.deepcopy(base()), dns_port=5353)
    assert set(listeners) == {"lds_dns_127.0.0.1_5353", "lds_dns_tcp_127.0.0.1_5353"}


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--dns-port", "15001"], {}, "--dns-port=15001"),
        ([], {"PROXYINIT_DNS_PORT": "70000"}, "PROXYINIT_DNS_PORT='70000'"),
    ],
)
def test_serve_refuses_a_bad_dns_port(tmp_path, args, env, named):
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text("- meshName: default\n")
    command = serve_command("--xds", "127.0.0.1:0", *args, mesh_file=mesh_file)
    proc = run(command, timeout=20, env={**os.environ, **env})
    assert proc.returncode == 2, proc.stderr
    assert named in proc.stderr
