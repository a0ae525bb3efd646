"""Hand-built Envoy resources for server/snapshot tests (no dependency on the mesh translator)."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import any_pb2, duration_pb2

from proxyinit.xds import types
from proxyinit.xds.snapshot import Snapshot


def pack(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)
    return packed


def static_cluster(
    name: str, port: int, host: str = "127.0.0.1", timeout_s: int = 1
) -> cluster_pb2.Cluster:
    return cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration_pb2.Duration(seconds=timeout_s),
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[
                endpoint_components_pb2.LocalityLbEndpoints(
                    lb_endpoints=[
                        endpoint_components_pb2.LbEndpoint(
                            endpoint=endpoint_components_pb2.Endpoint(
                                address=address_pb2.Address(
                                    socket_address=address_pb2.SocketAddress(
                                        address=host, port_value=port
                                    )
                                )
                            )
                        )
                    ]
                )
            ],
        ),
    )


def http_listener(name: str, port: int, route_config_name: str) -> listener_pb2.Listener:
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=name,
        rds=hcm_pb2.Rds(route_config_name=route_config_name, config_source=_ads_source()),
        http_filters=[
            hcm_pb2.HttpFilter(
                name="envoy.filters.http.router", typed_config=pack(router_pb2.Router())
            )
        ],
    )
    return listener_pb2.Listener(
        name=name,
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address="127.0.0.1", port_value=port)
        ),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=pack(manager),
                    )
                ]
            )
        ],
    )


def tcp_listener(name: str, port: int, cluster: str) -> listener_pb2.Listener:
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=name, cluster=cluster)
    return listener_pb2.Listener(
        name=name,
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address="127.0.0.1", port_value=port)
        ),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name="envoy.filters.network.tcp_proxy", typed_config=pack(proxy)
                    )
                ]
            )
        ],
    )


def weighted_route_config(name: str, weights: dict[str, int]) -> route_pb2.RouteConfiguration:
    action = route_components_pb2.RouteAction(
        weighted_clusters=route_components_pb2.WeightedCluster(
            clusters=[
                route_components_pb2.WeightedCluster.ClusterWeight(
                    name=cluster, weight={"value": weight}
                )
                for cluster, weight in weights.items()
            ]
        )
    )
    return route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[
            route_components_pb2.VirtualHost(
                name=name,
                domains=["*"],
                routes=[
                    route_components_pb2.Route(
                        match=route_components_pb2.RouteMatch(prefix="/"), route=action
                    )
                ],
            )
        ],
    )


def _ads_source():
    from envoy.config.core.v3 import config_source_pb2

    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=config_source_pb2.V3
    )


def node_resources(
    tag: str, weights: dict[str, int] | None = None, port: int = 0
) -> dict[str, list]:
    """A small consistent node config: one HTTP listener -> RDS -> weighted clusters."""
    weights = weights or {f"{tag}-blue": 1}
    return {
        types.CLUSTER: [static_cluster(name, 9000 + i) for i, name in enumerate(sorted(weights))],
        types.LISTENER: [http_listener(f"{tag}-listener", port, f"{tag}-routes")],
        types.ROUTE: [weighted_route_config(f"{tag}-routes", weights)],
    }


def node_snapshot(tag: str, weights: dict[str, int] | None = None, port: int = 0) -> Snapshot:
    return Snapshot(node_resources(tag, weights, port))
