"""Pure translation of a validated MeshModel into one Envoy node's resources (no I/O).

    translate_node(model, NodeId("default", "colorgateway-vn"))
      -> {CLUSTER: [...], ENDPOINT: [], LISTENER: [ingress, egress], ROUTE: [...]}

keyed by the type URLs of proxyinit.xds.types. Every name a listener or route refers to is in the
output: each RDS name has its RouteConfiguration, each cluster a route or tcp_proxy names is a
Cluster (check_references() asserts it; the snapshot module checks it again).
"""

from __future__ import annotations

from google.protobuf.message import Message

from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from proxyinit.errors import ConfigError
from proxyinit.mesh.mesh_model import MeshModel
from proxyinit.mesh.parts import Parts
from proxyinit.mesh.translate_egress import translate_egress
from proxyinit.mesh.translate_ingress import translate_ingress
from proxyinit.xds.types import CLUSTER, LISTENER, ROUTE, NodeId


def translate_node(model: MeshModel, node: NodeId) -> dict[str, list[Message]]:
    """The Envoy resources for virtual node `node` of `model`. Unknown node -> ConfigError."""
    if node.mesh != model.name:
        raise ConfigError(f"node {str(node)!r}: mesh {node.mesh!r} is not mesh {model.name!r}")
    virtual_node = model.node(node.node)
    parts = Parts()
    translate_ingress(model.name, virtual_node, parts)
    translate_egress(model, virtual_node, parts)
    resources = parts.by_type()
    check_references(resources)
    return resources


def _listener_references(listener) -> tuple[set[str], set[str]]:
    """(route configuration names, cluster names) one listener refers to."""
    routes: set[str] = set()
    clusters: set[str] = set()
    chains = list(listener.filter_chains) + ([listener.default_filter_chain] if listener.HasField("default_filter_chain") else [])
    for chain in chains:
        for filter_ in chain.filters:
            if filter_.typed_config.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
                manager = hcm_pb2.HttpConnectionManager()
                filter_.typed_config.Unpack(manager)
                routes.add(manager.rds.route_config_name)
            elif filter_.typed_config.Is(tcp_proxy_pb2.TcpProxy.DESCRIPTOR):
                proxy = tcp_proxy_pb2.TcpProxy()
                filter_.typed_config.Unpack(proxy)
                clusters.update([proxy.cluster] if proxy.cluster else [c.name for c in proxy.weighted_clusters.clusters])
    return routes, clusters


def _route_config_clusters(config) -> set[str]:
    out: set[str] = set()
    for host in config.virtual_hosts:
        for route in host.routes:
            action = route.route
            out.update([action.cluster] if action.cluster else [c.name for c in action.weighted_clusters.clusters])
    return out


def check_references(resources: dict[str, list[Message]]) -> None:
    """Every RDS name and cluster referenced is present (a failure is a translator bug)."""
    cluster_names = {c.name for c in resources[CLUSTER]}
    route_names = {r.name for r in resources[ROUTE]}
    wanted_routes: set[str] = set()
    wanted_clusters: set[str] = set()
    for listener in resources[LISTENER]:
        routes, clusters = _listener_references(listener)
        wanted_routes |= routes
        wanted_clusters |= clusters
    for config in resources[ROUTE]:
        wanted_clusters |= _route_config_clusters(config)
    missing = sorted(wanted_routes - route_names) + sorted(wanted_clusters - cluster_names)
    if missing:
        raise AssertionError(f"translation refers to missing resources: {missing}")
