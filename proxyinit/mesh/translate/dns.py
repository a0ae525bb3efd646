"""The DNS listener of a virtual node's Envoy (`lds_dns_127.0.0.1_15053`): App Mesh's "DNS hole"
closed (aws-app-mesh-roadmap#71). Pure.

With PROXYINIT_REDIRECT_DNS=1 the redirector sends the app's port-53 queries here. Envoy's DNS
filter answers each virtual service the node has as a backend (and that something provides) with
a stable address from 240.240.0.0/16 (istio's range for the same job), hashed from the name, and
2001:2::f0f0:<hash> for nodes whose ipPreference involves IPv6. The address only has to reach
the egress capture: http-family backends are routed by Host, tcp ones by port (egress.py), so a
rare hash collision between two backends changes nothing. Every other name is forwarded to the
resolvers of the node's /etc/resolv.conf (c-ares' default when no resolvers are configured),
by Envoy as uid 1337, which the redirector lets out.

DNS over TCP is relayed to the resolver the app asked (tcp_relay). The listeners are always
served: the control plane cannot see the redirector's environment, and loopback sockets that
nothing redirects to are harmless. Virtual gateways get none (no
redirector runs in front of them).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress

from envoy.config.core.v3 import address_pb2, base_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2, udp_listener_config_pb2
from envoy.data.dns.v3 import dns_table_pb2
from envoy.extensions.filters.udp.dns_filter.v3 import dns_filter_pb2

from proxyinit.contract import DNS_PORT
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.model.resources import VirtualNode
from proxyinit.mesh.translate.clusters import passthrough_cluster
from proxyinit.mesh.translate.memo import copied
from proxyinit.mesh.translate.parts import Parts
from proxyinit.mesh.translate.protos import (
    duration_ms,
    loop_guard_chains,
    original_dst_listener_filter,
    pack,
    socket_address,
    tcp_filter_chain,
    tcp_proxy,
)

V4_NETWORK = ipaddress.ip_network("240.240.0.0/16")
V6_PREFIX = "2001:2::f0f0:"  # + the same 16-bit hash, in istio's IPv6 range (2001:2::/48)
ANSWER_TTL_MS = 30_000  # short: a service that goes away stops being answered within 30 s
RESOLVER_TIMEOUT_MS = 5_000  # glibc's default per-try timeout
MAX_PENDING_LOOKUPS = 256  # forwarded queries in flight; past that Envoy answers SERVFAIL
_FILTER = "envoy.filters.udp.dns_filter"
# Its own ORIGINAL_DST cluster, not the egress one: that one exists only with ALLOW_ALL.
RELAY_CLUSTER = "cds_dns_tcp_passthrough"


def listener_name(address: str, port: int) -> str:
    return f"lds_dns_{address}_{port}"


def service_addresses(name: str, preference: str | None) -> list[str]:
    """The addresses answered for virtual service `name`: A, and AAAA when IPv6 is in use."""
    return list(_service_addresses(name, preference))


@functools.lru_cache(maxsize=65536)  # every node naming the service asks again (issue 11)
def _service_addresses(name: str, preference: str | None) -> tuple[str, ...]:
    digest = hashlib.sha256(name.encode()).digest()
    host = int.from_bytes(digest[:2], "big") % 65534 + 1  # neither the network nor broadcast
    v4, v6 = str(V4_NETWORK.network_address + host), f"{V6_PREFIX}{host:x}"
    if preference is None or preference == "IPv4_ONLY":
        return (v4,)
    return (v6,) if preference == "IPv6_ONLY" else (v4, v6)


def answered_services(model: MeshModel, node: VirtualNode) -> list[str]:
    """The node's backends that exist and are provided: what the egress listener routes."""
    names = set()
    for backend in node.spec.backends:
        service = model.services.get(backend.virtual_service.virtual_service_name)
        if service is not None and model.service_mappings(service):
            names.add(service.name)
    return sorted(names)


def dns_table(model: MeshModel, node: VirtualNode) -> dns_table_pb2.DnsTable:
    preference = model.ip_preference(node)
    domains = [
        dns_table_pb2.DnsTable.DnsVirtualDomain(
            name=name,
            endpoint=dns_table_pb2.DnsTable.DnsEndpoint(
                address_list=dns_table_pb2.DnsTable.AddressList(
                    address=service_addresses(name, preference)
                )
            ),
            answer_ttl=duration_ms(ANSWER_TTL_MS),
        )
        for name in answered_services(model, node)
    ]
    return dns_table_pb2.DnsTable(virtual_domains=domains)


def dns_filter(table: dns_table_pb2.DnsTable) -> dns_filter_pb2.DnsFilterConfig:
    # No known_suffixes: a name outside the table is never answered NXDOMAIN here, it is asked
    # upstream. No upstream resolvers: Envoy's resolver reads /etc/resolv.conf at start-up.
    return dns_filter_pb2.DnsFilterConfig(
        stat_prefix="dns",
        server_config=dns_filter_pb2.DnsFilterConfig.ServerContextConfig(inline_dns_table=table),
        client_config=dns_filter_pb2.DnsFilterConfig.ClientContextConfig(
            resolver_timeout=duration_ms(RESOLVER_TIMEOUT_MS),
            max_pending_lookups=MAX_PENDING_LOOKUPS,
        ),
    )


def dns_listener(address: str, port: int, table: dns_table_pb2.DnsTable) -> listener_pb2.Listener:
    return listener_pb2.Listener(
        name=listener_name(address, port),
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(
                address=address, port_value=port, protocol=address_pb2.SocketAddress.UDP
            )
        ),
        udp_listener_config=udp_listener_config_pb2.UdpListenerConfig(),
        listener_filters=[
            listener_components_pb2.ListenerFilter(
                name=_FILTER, typed_config=pack(dns_filter(table))
            )
        ],
        traffic_direction=base_pb2.OUTBOUND,
    )


@copied()  # the same for every node: built once, copied per use
def tcp_relay(port: int, dual_stack: bool) -> listener_pb2.Listener:
    """DNS over TCP (a truncated answer's retry, `options use-vc`) redirected to the same port:
    the DNS filter is UDP only, so this relays the connection to the resolver the app asked,
    as Envoy's uid, past the egress filter. Names of the mesh are answered over UDP only."""
    out = listener_pb2.Listener(
        name=listener_name("tcp_127.0.0.1", port),
        address=socket_address("127.0.0.1", port),
        listener_filters=[original_dst_listener_filter()],
        # A connection made to this port itself has itself as original destination: refuse it.
        filter_chains=loop_guard_chains("dns_tcp", (port,)),
        traffic_direction=base_pb2.OUTBOUND,
    )
    out.default_filter_chain.CopyFrom(
        tcp_filter_chain("dns_tcp", None, tcp_proxy("dns_tcp", [(RELAY_CLUSTER, 1)]))
    )
    if dual_stack:
        out.additional_addresses.add().address.CopyFrom(socket_address("::1", port))
    return out


def translate_dns(model: MeshModel, node: VirtualNode, parts: Parts, port: int = DNS_PORT) -> None:
    """127.0.0.1:port, and [::1]:port when the node uses IPv6 (ip6tables REDIRECTs land there):
    UDP answered by the DNS filter, TCP relayed (tcp_relay)."""
    table = dns_table(model, node)
    dual_stack = model.ip_preference(node) is not None
    parts.add_listener(dns_listener("127.0.0.1", port, table))
    if dual_stack:
        parts.add_listener(dns_listener("::1", port, table))
    parts.add_listener(tcp_relay(port, dual_stack))
    parts.add_cluster(passthrough_cluster(RELAY_CLUSTER))
