"""Virtual node listener policies -> Envoy cluster fields, on the clusters App Mesh put them (pure).

- `healthCheck`: on the clusters of the nodes routing to this one, as App Mesh did ("downstream
  (client) Envoys will perform active health checking", aws-app-mesh-roadmap#105): a caller stops
  sending to a stopped instance. Also on the node's own local application cluster, so a stopped
  app is an unhealthy host in its own Envoy's admin /clusters too.
- `connectionPool`: on the node's own local application cluster, protecting the app from overload
  (howto-circuit-breakers watches `cds_ingress_..._http_9080.circuit_breakers.default.cx_open`).
- `outlierDetection`: on the clusters of the nodes routing to this one (`cds_egress_...`): defined
  by the server, applied by its clients' Envoys, which eject the hosts that answer 5xx
  (howto-outlier-detection). App Mesh's one criterion is server errors, so Envoy's success-rate
  ejection is turned off.
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2, outlier_detection_pb2
from envoy.config.core.v3 import health_check_pb2
from envoy.type.v3 import http_pb2

from proxyinit.mesh.model.listener import ConnectionPool, HealthCheckPolicy, OutlierDetection
from proxyinit.mesh.model.resources import Listener
from proxyinit.mesh.translate.protos import duration_ms, to_duration, uint32


def health_check(policy: HealthCheckPolicy) -> health_check_pb2.HealthCheck:
    # intervalMillis is "the time period between each health check execution": also before a
    # cluster's first request (Envoy's no_traffic_interval, 60 s by default), else a caller
    # would notice a stopped instance only a minute after the check it ran at start.
    check = health_check_pb2.HealthCheck(
        timeout=duration_ms(policy.timeout_millis),
        interval=duration_ms(policy.interval_millis),
        no_traffic_interval=duration_ms(policy.interval_millis),
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


def _limit_connections(cluster: cluster_pb2.Cluster, pool: ConnectionPool) -> None:
    # One threshold (priority DEFAULT), as clusters.py writes it; unset limits stay unlimited.
    (threshold,) = cluster.circuit_breakers.thresholds
    if pool.http is not None:
        threshold.max_connections.value = pool.http.max_connections
        if pool.http.max_pending_requests is not None:
            threshold.max_pending_requests.value = pool.http.max_pending_requests
    elif pool.tcp is not None:
        threshold.max_connections.value = pool.tcp.max_connections
    else:
        threshold.max_requests.value = (pool.http2 or pool.grpc).max_requests


def apply_listener_policies(cluster: cluster_pb2.Cluster, listener: Listener) -> None:
    """Add the listener's own policies to the local application's cluster (or, for a virtual
    gateway's listener, to its own copy of a target's cluster)."""
    if listener.health_check is not None:
        # A gateway listener's check replaces the target node's own on its copy: Envoy NACKs
        # two unnamed health checks on one cluster.
        del cluster.health_checks[:]
        cluster.health_checks.append(health_check(listener.health_check))
    if listener.connection_pool is not None:
        _limit_connections(cluster, listener.connection_pool)


def outlier_detection(policy: OutlierDetection) -> outlier_detection_pb2.OutlierDetection:
    return outlier_detection_pb2.OutlierDetection(
        consecutive_5xx=uint32(policy.max_server_errors),
        interval=to_duration(policy.interval),
        base_ejection_time=to_duration(policy.base_ejection_duration),
        max_ejection_percent=uint32(policy.max_ejection_percent),
        enforcing_success_rate=uint32(0),
    )


def apply_target_policies(cluster: cluster_pb2.Cluster, listener: Listener | None) -> None:
    """Add a target node's listener policies to a client's cluster reaching that listener."""
    if listener is None:
        return
    if listener.health_check is not None:
        cluster.health_checks.append(health_check(listener.health_check))
    if listener.outlier_detection is not None:
        cluster.outlier_detection.CopyFrom(outlier_detection(listener.outlier_detection))
