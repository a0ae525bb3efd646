"""Small Envoy v3 building blocks shared by the ingress and egress translation (pure, no I/O).

Only non-deprecated fields are used (the real-Envoy tests fail on deprecation warnings): typed
configs everywhere, `string_match` rather than `exact_match`, no `total_weight`, no `use_original_dst`.
"""

from __future__ import annotations

import functools

from envoy.config.core.v3 import address_pb2, config_source_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.rbac.v3 import rbac_pb2 as rbac_config_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2
from envoy.extensions.filters.network.direct_response.v3 import config_pb2 as direct_response_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as rbac_filter_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import any_pb2, duration_pb2, wrappers_pb2
from google.protobuf.message import Message

from proxyinit.mesh.model.base import Duration
from proxyinit.mesh.translate.memo import copied
from proxyinit.mesh.translate.names import BIND_ADDRESS, BIND_ADDRESS_V6


def pack(message: Message) -> any_pb2.Any:
    # Deterministic: an Any holds bytes, so a map inside (a Struct, say) would otherwise be
    # serialized in an order that changes between processes, and with it the version hash.
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)
    return packed


def duration_ms(milliseconds: int) -> duration_pb2.Duration:
    value = duration_pb2.Duration()
    value.FromMilliseconds(milliseconds)
    return value


def to_duration(value: Duration) -> duration_pb2.Duration:
    return duration_ms(value.milliseconds())


def uint32(value: int) -> wrappers_pb2.UInt32Value:
    return wrappers_pb2.UInt32Value(value=value)


def socket_address(address: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=address, port_value=port)
    )


def original_dst_listener_filter() -> listener_components_pb2.ListenerFilter:
    # Restores the pre-REDIRECT destination, which filter_chain_match.destination_port then sees.
    return listener_components_pb2.ListenerFilter(
        name="envoy.filters.listener.original_dst",
        typed_config=pack(original_dst_pb2.OriginalDst()),
    )


def _port_match(port: int) -> listener_components_pb2.FilterChainMatch:
    return listener_components_pb2.FilterChainMatch(destination_port=uint32(port))


@copied()  # every node has the same few: built once, copied per use
def http_filter_chain(
    name: str, port: int, stat_prefix: str, route_config: str
) -> listener_components_pb2.FilterChain:
    """Destination port `port` -> HTTP connection manager whose routes come by RDS over ADS."""
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=stat_prefix,
        codec_type=hcm_pb2.HttpConnectionManager.AUTO,
        rds=hcm_pb2.Rds(
            route_config_name=route_config,
            config_source=config_source_pb2.ConfigSource(
                ads=config_source_pb2.AggregatedConfigSource(),
                resource_api_version=config_source_pb2.V3,
            ),
        ),
        http_filters=[
            hcm_pb2.HttpFilter(
                name="envoy.filters.http.router", typed_config=pack(router_pb2.Router())
            )
        ],
    )
    return listener_components_pb2.FilterChain(
        name=name,
        filter_chain_match=_port_match(port),
        filters=[
            listener_components_pb2.Filter(
                name="envoy.filters.network.http_connection_manager", typed_config=pack(manager)
            )
        ],
    )


def tcp_proxy(
    stat_prefix: str, clusters: list[tuple[str, int]], idle_ms: int | None = None
) -> listener_components_pb2.Filter:
    """tcp_proxy to one cluster, or weighted clusters when there are several."""
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix)
    if len(clusters) == 1:
        proxy.cluster = clusters[0][0]
    else:
        proxy.weighted_clusters.clusters.extend(
            tcp_proxy_pb2.TcpProxy.WeightedCluster.ClusterWeight(name=name, weight=weight)
            for name, weight in clusters
        )
    if idle_ms is not None:
        proxy.idle_timeout.CopyFrom(duration_ms(idle_ms))
    return listener_components_pb2.Filter(
        name="envoy.filters.network.tcp_proxy", typed_config=pack(proxy)
    )


def tcp_filter_chain(
    name: str, port: int | None, filter_: listener_components_pb2.Filter
) -> listener_components_pb2.FilterChain:
    chain = listener_components_pb2.FilterChain(name=name, filters=[filter_])
    if port is not None:
        chain.filter_chain_match.CopyFrom(_port_match(port))
    return chain


def refusing_filter_chain(
    name: str, port: int | None, stat_prefix: str
) -> listener_components_pb2.FilterChain:
    """A chain that closes every connection: network RBAC deny-all, then an empty direct response.

    RBAC makes the refusal visible in stats (`<stat_prefix>.rbac.denied`); direct_response is the
    terminal filter Envoy requires at the end of a chain, and closes at once if RBAC has not yet.
    Every node has the same few (the loop guards): built once, copied (in C) per use.
    """
    chain = listener_components_pb2.FilterChain()
    chain.CopyFrom(_refusing_filter_chain(name, port, stat_prefix))
    return chain


@functools.lru_cache(maxsize=256)
def _refusing_filter_chain(
    name: str, port: int | None, stat_prefix: str
) -> listener_components_pb2.FilterChain:
    deny_all = rbac_config_pb2.RBAC(
        action=rbac_config_pb2.RBAC.DENY,
        policies={
            "deny-all": rbac_config_pb2.Policy(
                permissions=[rbac_config_pb2.Permission(any=True)],
                principals=[rbac_config_pb2.Principal(any=True)],
            )
        },
    )
    rbac = rbac_filter_pb2.RBAC(stat_prefix=stat_prefix, rules=deny_all)
    chain = listener_components_pb2.FilterChain(
        name=name,
        filters=[
            listener_components_pb2.Filter(
                name="envoy.filters.network.rbac", typed_config=pack(rbac)
            ),
            listener_components_pb2.Filter(
                name="envoy.filters.network.direct_response",
                typed_config=pack(direct_response_pb2.Config()),
            ),
        ],
    )
    if port is not None:
        chain.filter_chain_match.CopyFrom(_port_match(port))
    return chain


def loop_guard_chains(
    stat_prefix: str, ports: tuple[int, ...]
) -> list[listener_components_pb2.FilterChain]:
    """Refuse connections whose original destination is the proxy itself.

    Without this, a connection to 127.0.0.1:15001 is "passed through" to its original destination,
    which is Envoy again: it connects to itself thousands of times (issue 3, "Loop guard").
    """
    return [
        refusing_filter_chain(f"loop_guard_{port}", port, f"{stat_prefix}_loop_guard_{port}")
        for port in ports
    ]


def listener(
    name: str, port: int, direction: int, chains: list, default_chain=None, dual_stack=False
) -> listener_pb2.Listener:
    """`dual_stack`: also bind `[::]:port` (IPv6 only on that socket), so ip6tables REDIRECTs land."""
    out = listener_pb2.Listener(
        name=name,
        address=socket_address(BIND_ADDRESS, port),
        listener_filters=[original_dst_listener_filter()],
        filter_chains=chains,
        traffic_direction=direction,
    )
    if default_chain is not None:
        out.default_filter_chain.CopyFrom(default_chain)
    if dual_stack:
        out.additional_addresses.add().address.CopyFrom(socket_address(BIND_ADDRESS_V6, port))
    return out
