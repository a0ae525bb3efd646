"""Envoy clusters: the local application (ingress), target virtual nodes (egress), passthrough.

Defaults follow App Mesh ("Envoy defaults set by App Mesh", user guide): circuit breaker thresholds
at 2147483647, i.e. effectively off (App Mesh documents maxPendingRequests "2147483647 if not
present" for VirtualNodeConnectionPool); DNS `responseType` LOADBALANCER -> LOGICAL_DNS (one
address, like a load balancer's), ENDPOINTS -> STRICT_DNS (every address is an endpoint).
"""

from __future__ import annotations

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2
from envoy.config.core.v3 import protocol_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from proxyinit.mesh.translate.protos import pack, socket_address, uint32

_UNLIMITED = 2147483647
# ipPreference -> dns_lookup_family, as App Mesh's howto-ipv6 walkthrough describes each one.
# Without a preference we keep V4_PREFERRED (App Mesh: v6 first), see dns_cluster.
_DNS_FAMILY = {
    "IPv6_PREFERRED": cluster_pb2.Cluster.AUTO,  # AUTO: IPv6 first, IPv4 if there is none
    "IPv4_PREFERRED": cluster_pb2.Cluster.V4_PREFERRED,
    "IPv4_ONLY": cluster_pb2.Cluster.V4_ONLY,
    "IPv6_ONLY": cluster_pb2.Cluster.V6_ONLY,
}
_HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def _circuit_breakers() -> circuit_breaker_pb2.CircuitBreakers:
    return circuit_breaker_pb2.CircuitBreakers(
        thresholds=[
            circuit_breaker_pb2.CircuitBreakers.Thresholds(
                max_connections=uint32(_UNLIMITED),
                max_pending_requests=uint32(_UNLIMITED),
                max_requests=uint32(_UNLIMITED),
                max_retries=uint32(_UNLIMITED),
            )
        ]
    )


def _load_assignment(name: str, address: str, port: int) -> endpoint_pb2.ClusterLoadAssignment:
    endpoint = endpoint_components_pb2.LbEndpoint(
        endpoint=endpoint_components_pb2.Endpoint(address=socket_address(address, port))
    )
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=name,
        endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=[endpoint])],
    )


def _set_upstream_protocol(cluster: cluster_pb2.Cluster, protocol: str) -> None:
    # http2 and grpc speak HTTP/2 upstream. Set through typed_extension_protocol_options: the
    # Cluster.http2_protocol_options field is deprecated.
    if protocol not in ("http2", "grpc"):
        return
    options = http_protocol_options_pb2.HttpProtocolOptions(
        explicit_http_config=http_protocol_options_pb2.HttpProtocolOptions.ExplicitHttpConfig(
            http2_protocol_options=protocol_pb2.Http2ProtocolOptions()
        )
    )
    cluster.typed_extension_protocol_options[_HTTP_OPTIONS_KEY].CopyFrom(pack(options))


def static_cluster(name: str, address: str, port: int, protocol: str) -> cluster_pb2.Cluster:
    """The local application, reached on loopback (ingress side)."""
    cluster = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC,
        load_assignment=_load_assignment(name, address, port),
        circuit_breakers=_circuit_breakers(),
    )
    _set_upstream_protocol(cluster, protocol)
    return cluster


def dns_cluster(
    name: str,
    hostname: str,
    port: int,
    protocol: str,
    response_type: str | None,
    ip_preference: str | None = None,
) -> cluster_pb2.Cluster:
    """A target virtual node, reached through its DNS service discovery (egress side)."""
    kind = (
        cluster_pb2.Cluster.STRICT_DNS
        if response_type == "ENDPOINTS"
        else cluster_pb2.Cluster.LOGICAL_DNS
    )
    cluster = cluster_pb2.Cluster(
        name=name,
        type=kind,
        # No preference: IPv4 first, task and pod networks are IPv4 in the walkthrough (IPv6
        # still works); the target node's ipPreference, else the mesh's, decides otherwise.
        dns_lookup_family=_DNS_FAMILY.get(ip_preference, cluster_pb2.Cluster.V4_PREFERRED),
        load_assignment=_load_assignment(name, hostname, port),
        circuit_breakers=_circuit_breakers(),
    )
    _set_upstream_protocol(cluster, protocol)
    return cluster


def eds_cluster(
    name: str, protocol: str, config: cluster_pb2.Cluster.EdsClusterConfig
) -> cluster_pb2.Cluster:
    """A target virtual node whose endpoints come over EDS (AWS Cloud Map, translate/cloudmap.py)."""
    cluster = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=config,
        circuit_breakers=_circuit_breakers(),
    )
    _set_upstream_protocol(cluster, protocol)
    return cluster


def passthrough_cluster(name: str) -> cluster_pb2.Cluster:
    """ALLOW_ALL egress: connect to wherever the application meant to connect (original dst)."""
    return cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.ORIGINAL_DST,
        lb_policy=cluster_pb2.Cluster.CLUSTER_PROVIDED,
        circuit_breakers=_circuit_breakers(),
    )
