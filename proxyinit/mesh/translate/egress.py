"""Egress: `lds_egress_0.0.0.0_15001`, what the local application sends out (pure).

Only declared backends are routed. Per backend port, one filter chain (by original destination
port): http-family ports -> HTTP connection manager with RDS `rds_egress_http_<port>`, one virtual
host per backend virtual service (domains `[name, name:port]`); a tcp port -> tcp_proxy to its one
backend. Everything else follows the mesh egress filter: ALLOW_ALL -> the ORIGINAL_DST passthrough
cluster (a `*` virtual host on http ports, the default filter chain otherwise); DROP_ALL -> no `*`
virtual host (Envoy answers 404) and a refusing default filter chain.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2

from proxyinit.contract import PROXY_PORTS
from proxyinit.mesh.model.base import PortMapping
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.model.resources import Route, VirtualNode, VirtualService
from proxyinit.mesh.translate import names
from proxyinit.mesh.translate.client_tls import (
    ClientTls,
    client_tls,
    originate_tls,
    tls_cluster_name,
)
from proxyinit.mesh.translate.cloudmap import cloud_map_assignment, eds_cluster_config
from proxyinit.mesh.translate.clusters import dns_cluster, eds_cluster, passthrough_cluster
from proxyinit.mesh.translate.http import Clusters, catch_all_route, mesh_route
from proxyinit.mesh.translate.memo import ProtoMemo
from proxyinit.mesh.translate.parts import Parts
from proxyinit.mesh.translate.policies import apply_target_policies
from proxyinit.mesh.translate.protos import (
    http_filter_chain,
    listener,
    loop_guard_chains,
    refusing_filter_chain,
    tcp_filter_chain,
    tcp_proxy,
)


@dataclass
class _EgressPorts:
    """What each egress port carries: virtual hosts (http family) or one tcp destination."""

    http: dict[int, list[rc.VirtualHost]] = field(default_factory=dict)
    tcp: dict[int, tuple[str, Clusters, int | None]] = field(
        default_factory=dict
    )  # port -> (service, clusters, idle ms)


_CLUSTERS, _ASSIGNMENTS = ProtoMemo(), ProtoMemo()


def _target_cluster(
    name: str, node: VirtualNode, mapping: PortMapping, target, preference: str | None
) -> cluster_pb2.Cluster:
    """The cluster reaching `node` on `mapping`, with its listener `target`'s policies."""
    dns = node.spec.service_discovery.dns
    if node.spec.service_discovery.aws_cloud_map is not None:
        cluster = eds_cluster(name, mapping.protocol, eds_cluster_config(name))
    else:
        cluster = dns_cluster(
            name, dns.hostname, mapping.port, mapping.protocol, dns.response_type, preference
        )
    apply_target_policies(cluster, target)
    return cluster


def _node_cluster(
    model: MeshModel,
    node: VirtualNode,
    mapping: PortMapping,
    parts: Parts,
    tls: ClientTls | None = None,
) -> str:
    """The DNS cluster reaching `node` on `mapping`, added to parts; returns its name."""
    name = names.egress_cluster(model.name, node.name, mapping.protocol, mapping.port)
    if tls is not None and not tls[0].covers(mapping.port):
        tls = None
    if tls is not None:
        name = tls_cluster_name(name, tls)
    dns, cloud_map = node.spec.service_discovery.dns, node.spec.service_discovery.aws_cloud_map
    preference = model.ip_preference(node)
    target = next((x for x in node.spec.listeners if x.port_mapping == mapping), None)
    if cloud_map is not None:
        instances = model.discovered.get(cloud_map.query(), ())
        parts.add_assignment(
            _ASSIGNMENTS.copy(
                (name, instances, mapping.port, preference),
                lambda: cloud_map_assignment(name, instances, mapping.port, preference),
            )
        )
        key = (name, mapping.protocol, id(target))
    else:
        key = (name, dns.hostname, mapping.port, mapping.protocol, dns.response_type, preference)
        key += (id(target),)
    # Built once per target and policies, copied per client node (translate/memo.py).
    build = functools.partial(_target_cluster, name, node, mapping, target, preference)
    cluster = _CLUSTERS.copy(key, build, keep=(target,))
    if tls is not None:
        originate_tls(cluster, parts, *tls)
    parts.add_cluster(cluster)
    return name


def _route_clusters(
    model: MeshModel, route: Route, parts: Parts, tls: ClientTls | None = None
) -> Clusters:
    out: Clusters = []
    for target in route.spec.body.action.weighted_targets:
        node = model.nodes[target.virtual_node]
        mapping = node.target_mapping(target)
        out.append((_node_cluster(model, node, mapping, parts, tls), target.weight))
    return out


# A virtual gateway reaches the same targets the same way (translate/gateway.py).
node_cluster, route_clusters = _node_cluster, _route_clusters


def _virtual_host(service: str, port: int, routes: list[rc.Route]) -> rc.VirtualHost:
    return rc.VirtualHost(
        name=f"{service}_{port}", domains=[service, f"{service}:{port}"], routes=routes
    )


def _node_provided(
    model: MeshModel,
    service: VirtualService,
    ports: _EgressPorts,
    parts: Parts,
    tls: ClientTls | None,
) -> None:
    node = model.nodes[service.spec.provider.virtual_node.virtual_node_name]
    for listener_ in node.spec.listeners:
        mapping = listener_.port_mapping
        cluster = _node_cluster(model, node, mapping, parts, tls)
        if mapping.protocol == "tcp":
            ports.tcp[mapping.port] = (service.name, [(cluster, 1)], None)
            continue
        route = catch_all_route(service.name, cluster, grpc=mapping.protocol == "grpc")
        ports.http.setdefault(mapping.port, []).append(
            _virtual_host(service.name, mapping.port, [route])
        )


_ROUTES = ProtoMemo()


def _mesh_route(name: str, body, clusters: Clusters) -> rc.Route:
    # Every client of the router builds the same route (issue 11): once per body and clusters.
    build = functools.partial(mesh_route, name, body, clusters)
    return _ROUTES.copy((name, id(body), tuple(clusters)), build, keep=(body,))


def _router_provided(
    model: MeshModel,
    service: VirtualService,
    ports: _EgressPorts,
    parts: Parts,
    tls: ClientTls | None,
) -> None:
    router_name = service.spec.provider.virtual_router.virtual_router_name
    for listener_ in model.routers[router_name].spec.listeners:
        mapping = listener_.port_mapping
        routes = [r for r in model.routes.get(router_name, ()) if r.serves(mapping)]
        if mapping.protocol == "tcp":
            if routes:  # validation allows at most one; with none, the egress filter decides
                timeout = routes[0].spec.tcp_route.timeout
                idle = (
                    timeout.idle.milliseconds()
                    if timeout is not None and timeout.idle is not None
                    else None
                )
                ports.tcp[mapping.port] = (
                    service.name,
                    _route_clusters(model, routes[0], parts, tls),
                    idle,
                )
            continue
        envoy_routes = [
            _mesh_route(r.route_name, r.spec.body, _route_clusters(model, r, parts, tls))
            for r in routes
        ]
        ports.http.setdefault(mapping.port, []).append(
            _virtual_host(service.name, mapping.port, envoy_routes)
        )


def _collect(model: MeshModel, node: VirtualNode, parts: Parts) -> _EgressPorts:
    ports = _EgressPorts()
    for backend in node.spec.backends:
        service = model.services.get(backend.virtual_service.virtual_service_name)
        if service is None or not model.service_mappings(service):
            continue  # not created yet, or nothing provides it: the egress filter decides
        tls = client_tls(backend.virtual_service, node.spec.backend_defaults, service.name)
        if service.spec.provider.virtual_node is not None:
            _node_provided(model, service, ports, parts, tls)
        else:
            _router_provided(model, service, ports, parts, tls)
    return ports


def _http_chain(port: int, hosts: list[rc.VirtualHost], allow_all: bool, parts: Parts):
    hosts = sorted(hosts, key=lambda h: h.name)
    if allow_all:
        hosts.append(
            rc.VirtualHost(
                name="passthrough",
                domains=["*"],
                routes=[catch_all_route("passthrough", names.PASSTHROUGH_CLUSTER, retries=False)],
            )
        )
    route_config = names.egress_route_config(port)
    parts.add_route_config(route_pb2.RouteConfiguration(name=route_config, virtual_hosts=hosts))
    return http_filter_chain(f"egress_http_{port}", port, f"egress_http_{port}", route_config)


def translate_egress(model: MeshModel, node: VirtualNode, parts: Parts) -> None:
    allow_all = model.egress_filter == "ALLOW_ALL"
    ports = _collect(model, node, parts)
    by_port = {
        port: _http_chain(port, hosts, allow_all, parts) for port, hosts in ports.http.items()
    }
    for port, (_service, clusters, idle) in ports.tcp.items():
        by_port[port] = tcp_filter_chain(
            f"egress_tcp_{port}", port, tcp_proxy(f"egress_tcp_{port}", clusters, idle)
        )
    chains = loop_guard_chains("egress", PROXY_PORTS) + [by_port[port] for port in sorted(by_port)]
    if allow_all:
        parts.add_cluster(passthrough_cluster(names.PASSTHROUGH_CLUSTER))
        default = tcp_filter_chain(
            "passthrough", None, tcp_proxy("egress_passthrough", [(names.PASSTHROUGH_CLUSTER, 1)])
        )
    else:
        default = refusing_filter_chain("egress_filter_drop_all", None, "egress_drop_all")
    parts.add_listener(
        listener(
            names.EGRESS_LISTENER,
            names.EGRESS_PORT,
            base_pb2.OUTBOUND,
            chains,
            default,
            dual_stack=model.ip_preference(node) is not None,
        )
    )
