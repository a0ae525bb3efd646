"""Ingress: `lds_ingress_0.0.0.0_15000`, what arrives for the local application (pure).

One filter chain per virtual node listener, selected by the original destination port (REDIRECT
keeps it; the original_dst listener filter restores it): http-family ports go through an HTTP
connection manager with RDS `rds_ingress_<proto>_<port>` to the static cluster
`cds_ingress_<mesh>_<node>_<proto>_<port>` (127.0.0.1:<port>); tcp ports through tcp_proxy.
"""

from __future__ import annotations

import functools

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2

from proxyinit.contract import PROXY_PORTS
from proxyinit.mesh.model.resources import Listener, VirtualNode
from proxyinit.mesh.translate import names
from proxyinit.mesh.translate.clusters import static_cluster
from proxyinit.mesh.translate.http import catch_all_route
from proxyinit.mesh.translate.parts import Parts
from proxyinit.mesh.translate.policies import apply_listener_policies
from proxyinit.mesh.translate.protos import (
    http_filter_chain,
    listener,
    loop_guard_chains,
    refusing_filter_chain,
    tcp_filter_chain,
    tcp_proxy,
)
from proxyinit.mesh.translate.tls import tls_chains, tls_inspector

LOCAL_APP_ADDRESS = "127.0.0.1"
# howto-ipv6: with IPv6_PREFERRED or IPv6_ONLY the local app endpoint is an IPv6 address (no
# fallback to IPv4: an app listening on IPv4 only is then unreachable, as in App Mesh).
LOCAL_APP_ADDRESS_V6 = "::1"


def _listener_timeout(listener_: Listener, protocol: str):
    return None if listener_.timeout is None else getattr(listener_.timeout, protocol)


def _ingress_chains(
    mesh: str, node: VirtualNode, listener_: Listener, parts: Parts, ip_preference: str | None
) -> list:
    port = listener_.port_mapping.port
    chain = _ingress_chain(mesh, node, listener_, parts, ip_preference)
    # A certificate that cannot be served closes the port: never plaintext instead (fail closed).
    name = f"ingress_tls_unavailable_{port}"
    refuse = functools.partial(refusing_filter_chain, name, port, name)
    return tls_chains(chain, listener_.tls, refuse, parts)


def _ingress_chain(
    mesh: str, node: VirtualNode, listener_: Listener, parts: Parts, ip_preference: str | None
):
    port, protocol = listener_.port_mapping.port, listener_.port_mapping.protocol
    cluster = names.ingress_cluster(mesh, node.name, protocol, port)
    ipv6 = ip_preference in ("IPv6_PREFERRED", "IPv6_ONLY")
    address = LOCAL_APP_ADDRESS_V6 if ipv6 else LOCAL_APP_ADDRESS
    local_app = static_cluster(cluster, address, port, protocol)
    apply_listener_policies(local_app, listener_)
    parts.add_cluster(local_app)
    timeout = _listener_timeout(listener_, protocol)
    stat_prefix = f"ingress_{protocol}_{port}"
    if protocol == "tcp":
        idle = (
            timeout.idle.milliseconds()
            if timeout is not None and timeout.idle is not None
            else None
        )
        return tcp_filter_chain(stat_prefix, port, tcp_proxy(stat_prefix, [(cluster, 1)], idle))
    route_config = names.ingress_route_config(protocol, port)
    parts.add_route_config(
        route_pb2.RouteConfiguration(
            name=route_config,
            virtual_hosts=[
                rc.VirtualHost(
                    name=stat_prefix,
                    domains=["*"],
                    routes=[
                        catch_all_route(
                            stat_prefix,
                            cluster,
                            grpc=protocol == "grpc",
                            timeout=timeout,
                            retries=False,
                        )
                    ],
                )
            ],
        )
    )
    return http_filter_chain(stat_prefix, port, stat_prefix, route_config)


def translate_ingress(
    mesh: str, node: VirtualNode, parts: Parts, ip_preference: str | None = None
) -> None:
    listeners = sorted(node.spec.listeners, key=lambda listener: listener.port_mapping.port)
    chains = loop_guard_chains("ingress", PROXY_PORTS)
    for listener_ in listeners:
        chains += _ingress_chains(mesh, node, listener_, parts, ip_preference)
    ingress = listener(
        names.INGRESS_LISTENER,
        names.INGRESS_PORT,
        base_pb2.INBOUND,
        chains,
        dual_stack=ip_preference is not None,
    )
    if any(x.tls is not None and x.tls.mode == "PERMISSIVE" for x in listeners):
        ingress.listener_filters.append(tls_inspector())  # tells TLS from plaintext
    parts.add_listener(ingress)
