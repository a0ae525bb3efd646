"""A virtual gateway's Envoy: one listener per gateway listener port, routes from its gateway routes.

A gateway is an Envoy-only service behind a load balancer (no iptables, no local app): listener
`lds_ingress_0.0.0.0_<port>` with an HTTP connection manager and RDS `rds_ingress_<proto>_<port>`,
one `*` virtual host whose routes are the gateway routes serving that listener, in match order
(priority, then specificity). Hostname matches are `:authority` matches (the port stripped, case
ignored). App Mesh's defaults (virtual gateway user guide): the host is rewritten to the target
virtual service's name and the matched prefix to `/` (`/chapter` + `/chapter/1` -> `/1`), unless
the route's `rewrite` says otherwise. Targets are reached with the clusters a virtual node's egress
uses (egress.node_cluster / route_clusters); a service provided by a virtual router is routed with
that router's routes, whose non-path conditions are added to the gateway route's match.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from proxyinit.errors import ConfigError
from proxyinit.mesh.model.gateway import GatewayListener, GatewayRoute, VirtualGateway
from proxyinit.mesh.model.gateway_check import target_mapping
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.model.route import GrpcRoute
from proxyinit.mesh.translate import names
from proxyinit.mesh.translate.access_log import add_access_logs
from proxyinit.mesh.translate.client_tls import gateway_client_tls, gateway_tls_chains
from proxyinit.mesh.translate.egress import node_cluster, route_clusters
from proxyinit.mesh.translate.gateway_match import gateway_match, merge_router_match
from proxyinit.mesh.translate.http import Clusters, retry_policy, route_action
from proxyinit.mesh.translate.parts import Parts
from proxyinit.mesh.translate.policies import apply_listener_policies
from proxyinit.mesh.translate.protos import http_filter_chain, pack, socket_address
from proxyinit.mesh.translate.tls import tls_inspector


def translate_gateway(model: MeshModel, name: str, available=None) -> dict:
    """The Envoy resources of virtual gateway `name` of `model` (a ConfigError if unknown);
    `available`: the PEMs served over SDS (translate/sds.py)."""
    gateway = model.gateway(name)
    parts = Parts(available=available or {})
    for listener_ in gateway.spec.listeners:
        _translate_listener(model, gateway, listener_, parts)
    add_access_logs(parts.listeners, gateway.spec.logging)
    return parts.by_type()


def _translate_listener(
    model: MeshModel, gateway: VirtualGateway, listener_: GatewayListener, parts: Parts
) -> None:
    mapping = listener_.port_mapping
    routes: list[rc.Route] = []
    for route in model.gateway_routes.get(gateway.name, ()):
        if route.serves(mapping):
            reach = _Reach(listener_, parts, gateway.spec.backend_defaults)
            routes.extend(_envoy_routes(model, route, reach))
    config = names.ingress_route_config(mapping.protocol, mapping.port)
    host = rc.VirtualHost(name=f"{gateway.name}_{mapping.port}", domains=["*"], routes=routes)
    parts.add_route_config(route_pb2.RouteConfiguration(name=config, virtual_hosts=[host]))
    chain = http_filter_chain(
        f"ingress_{mapping.protocol}_{mapping.port}", mapping.port, "ingress", config
    )
    _strip_host_port(chain)
    listener = listener_pb2.Listener(
        name=f"lds_ingress_{names.BIND_ADDRESS}_{mapping.port}",
        address=socket_address(names.BIND_ADDRESS, mapping.port),
        filter_chains=gateway_tls_chains(chain, listener_.tls, mapping.port, parts),
        traffic_direction=base_pb2.INBOUND,
    )
    if listener_.tls is not None and listener_.tls.mode == "PERMISSIVE":
        listener.listener_filters.append(tls_inspector())
    if model.mesh.spec.service_discovery is not None and (
        model.mesh.spec.service_discovery.ip_preference is not None
    ):
        listener.additional_addresses.add().address.CopyFrom(
            socket_address(names.BIND_ADDRESS_V6, mapping.port)
        )
    parts.add_listener(listener)


def _strip_host_port(chain) -> None:
    # Hostname matches compare the host without its port (`:authority` is `host:port` behind a
    # load balancer on another port than 80), as App Mesh's hostname match did.
    (filter_,) = chain.filters
    manager = hcm_pb2.HttpConnectionManager()
    filter_.typed_config.Unpack(manager)
    manager.strip_any_host_port = True
    filter_.typed_config.CopyFrom(pack(manager))


class _Reach:
    """Clusters from one gateway listener to targets. With a healthCheck or connectionPool the
    listener gets its own copies (`..._via_<port>`) carrying them, so two listeners of a gateway
    with different policies never share a cluster; without, App Mesh's shared cluster names."""

    def __init__(self, listener_: GatewayListener, parts: Parts, defaults=None):
        self.listener, self.parts, self.defaults = listener_, parts, defaults
        self.own = listener_.health_check is not None or listener_.connection_pool is not None

    def __call__(self, build) -> Clusters:
        if not self.own:
            return build(self.parts)
        scratch = Parts(available=self.parts.available)
        clusters = build(scratch)
        for secret in scratch.secrets.values():
            self.parts.add_secret(secret)
        for assignment in scratch.assignments.values():  # Cloud Map endpoints, shared by copies
            self.parts.add_assignment(assignment)
        out: Clusters = []
        for name, weight in clusters:
            cluster = type(scratch.clusters[name])()
            cluster.CopyFrom(scratch.clusters[name])
            cluster.name = f"{name}_via_{self.listener.port_mapping.port}"
            if cluster.HasField("load_assignment"):  # an EDS cluster names its own assignment
                cluster.load_assignment.cluster_name = cluster.name
            apply_listener_policies(cluster, self.listener)
            self.parts.add_cluster(cluster)
            out.append((cluster.name, weight))
        return out


def _envoy_routes(model: MeshModel, route: GatewayRoute, reach: _Reach) -> list[rc.Route]:
    mapping = target_mapping(model, route)
    if mapping is None:
        return []  # the target service has no provider yet: nothing to route to (Envoy: 404)
    service = model.services[route.target.virtual_service.virtual_service_name]
    provider = service.spec.provider
    tls = gateway_client_tls(reach.defaults, service.name)
    if provider.virtual_node is not None:
        node = model.nodes[provider.virtual_node.virtual_node_name]
        clusters = reach(lambda parts: [(node_cluster(model, node, mapping, parts, tls), 1)])
        grpc = mapping.protocol == "grpc"
        return [
            _route(route, match, route_action(clusters, None, retry_policy(None, grpc), True))
            for match in gateway_match(route)
        ]
    router_name = provider.virtual_router.virtual_router_name
    out: list[rc.Route] = []
    for router_route in model.routes.get(router_name, ()):
        if not router_route.serves(mapping) or router_route.spec.protocol == "tcp":
            continue
        body = router_route.spec.body
        clusters = reach(lambda parts, r=router_route: route_clusters(model, r, parts, tls))
        action = route_action(
            clusters,
            body.timeout,
            retry_policy(body.retry_policy, isinstance(body, GrpcRoute)),
            True,
        )
        for match in gateway_match(route):
            merged = merge_router_match(match, body)
            if merged is False:
                continue  # the gateway's and the router's paths never both match
            if merged is None:
                raise ConfigError(
                    f"GatewayRoute {route.name!r} (virtual gateway {route.virtual_gateway_name!r}) "
                    f"targets {service.name!r}, whose router {router_name!r} has route "
                    f"{router_route.route_name!r} matching on a regex path or a gRPC service name: a "
                    "gateway in front of such a router route is not supported yet"
                )
            out.append(_route(route, merged, action))
    return out


def _route(route: GatewayRoute, match_rewrite, action: rc.RouteAction) -> rc.Route:
    match, prefix_rewrite = match_rewrite
    body = route.spec.body
    rewrite = body.action.rewrite
    hostname = rewrite.hostname if rewrite is not None else None
    if hostname is None or hostname.default_target_hostname != "DISABLED":
        action.host_rewrite_literal = route.target.virtual_service.virtual_service_name
    if prefix_rewrite is not None:
        action.prefix_rewrite = prefix_rewrite
    path = getattr(rewrite, "path", None)
    if path is not None and path.exact is not None:
        action.regex_rewrite.pattern.regex = "^.*$"
        action.regex_rewrite.substitution = path.exact
    return rc.Route(name=route.name, match=match, route=action)
