"""Virtual node listener policies -> fields of the node's local application cluster (pure).

App Mesh put a listener's `healthCheck` on the Envoy cluster of the local application (our
`cds_ingress_<mesh>_<node>_<proto>_<port>`): the sidecar checks its own app, so a stopped app shows
as an unhealthy host in the node's Envoy (admin /clusters) and its ingress stops sending to it.
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import health_check_pb2
from envoy.type.v3 import http_pb2

from proxyinit.mesh.model.listener import HealthCheckPolicy
from proxyinit.mesh.translate.protos import duration_ms, uint32


def health_check(policy: HealthCheckPolicy) -> health_check_pb2.HealthCheck:
    check = health_check_pb2.HealthCheck(
        timeout=duration_ms(policy.timeout_millis),
        interval=duration_ms(policy.interval_millis),
        healthy_threshold=uint32(policy.healthy_threshold),
        unhealthy_threshold=uint32(policy.unhealthy_threshold),
    )
    if policy.protocol == "tcp":
        # An empty TcpHealthCheck is a connect-only check: the port accepts a connection.
        check.tcp_health_check.SetInParent()
    elif policy.protocol == "grpc":
        # grpc.health.v1.Health/Check with an empty service name: the server's overall health.
        check.grpc_health_check.SetInParent()
    else:
        check.http_health_check.path = policy.path
        if policy.protocol == "http2":
            check.http_health_check.codec_client_type = http_pb2.HTTP2
    return check


def apply_listener_policies(cluster: cluster_pb2.Cluster, health: HealthCheckPolicy | None) -> None:
    """Add the listener's policies to the local application's cluster."""
    if health is not None:
        cluster.health_checks.append(health_check(health))
