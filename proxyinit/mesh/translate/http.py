"""App Mesh httpRoute / http2Route / grpcRoute -> Envoy route entries (pure).

Defaults, from the App Mesh user guide:
- per-request timeout 15 s (HttpTimeout.perRequest: "The default value is 15 seconds"); idle: none,
  so Envoy's connection manager default applies;
- retry policy when a route gives none ("Envoy defaults set by App Mesh" > "Default route retry
  policy"): 2 retries on HTTP 503, connect-failure and refused-stream, and gRPC UNAVAILABLE.
"""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.matcher.v3 import regex_pb2

from proxyinit.mesh.model.base import HttpTimeout
from proxyinit.mesh.model.route import (
    GrpcRoute,
    GrpcRouteMatch,
    HttpRetryPolicy,
    HttpRoute,
    HttpRouteMatch,
)
from proxyinit.mesh.translate.matchers import add_http_conditions, header_matchers
from proxyinit.mesh.translate.protos import duration_ms, to_duration, uint32

DEFAULT_PER_REQUEST_MS = 15_000
DEFAULT_MAX_RETRIES = 2
# HttpRetryPolicy.httpRetryEvents -> Envoy x-envoy-retry-on. "Both server-error and gateway-error
# under httpRetryEvents include the Envoy reset policy" (HttpRetryPolicy doc).
_HTTP_EVENTS: dict[str, tuple[str, ...]] = {
    "server-error": ("5xx", "reset"),
    "gateway-error": ("gateway-error", "reset"),
    "client-error": ("retriable-4xx",),  # 409, the only retriable 4xx in Envoy
    "stream-error": ("refused-stream",),
}
_TCP_EVENTS: dict[str, tuple[str, ...]] = {"connection-error": ("connect-failure",)}

Clusters = list[tuple[str, int]]


def http_route_match(match: HttpRouteMatch) -> rc.RouteMatch:
    out = rc.RouteMatch()
    if match.path is None:
        out.prefix = match.prefix or "/"  # a match with only `port`: everything on that port
    elif match.path.exact is not None:
        out.path = match.path.exact
    else:
        out.safe_regex.CopyFrom(regex_pb2.RegexMatcher(regex=match.path.regex))
    return add_http_conditions(
        out, match.headers, match.method, match.query_parameters, scheme=match.scheme
    )


def grpc_route_match(match: GrpcRouteMatch) -> rc.RouteMatch:
    # A gRPC call is POST /<package.Service>/<Method> with content-type application/grpc.
    out = rc.RouteMatch(grpc=rc.RouteMatch.GrpcRouteMatchOptions())
    if match.method_name is not None:
        out.path = f"/{match.service_name}/{match.method_name}"
    elif match.service_name is not None:
        out.prefix = f"/{match.service_name}/"
    else:
        out.prefix = "/"
    out.headers.extend(header_matchers(match.metadata))
    return out


def _unique(items: list[str]) -> str:
    return ",".join(dict.fromkeys(items))


def retry_policy(policy: HttpRetryPolicy | None, grpc: bool) -> rc.RetryPolicy:
    if policy is None:
        events = ["connect-failure", "refused-stream", "retriable-status-codes"] + (
            ["unavailable"] if grpc else []
        )
        return rc.RetryPolicy(
            retry_on=_unique(events),
            num_retries=uint32(DEFAULT_MAX_RETRIES),
            retriable_status_codes=[503],
        )
    events: list[str] = []
    for event in policy.http_retry_events or ():
        events.extend(_HTTP_EVENTS[event])
    for event in policy.tcp_retry_events or ():
        events.extend(_TCP_EVENTS[event])
    events.extend(getattr(policy, "grpc_retry_events", None) or ())
    return rc.RetryPolicy(
        retry_on=_unique(events),
        num_retries=uint32(policy.max_retries),
        per_try_timeout=to_duration(policy.per_retry_timeout),
    )


def route_action(
    clusters: Clusters, timeout: HttpTimeout | None, retry: rc.RetryPolicy | None, weighted: bool
) -> rc.RouteAction:
    action = rc.RouteAction()
    if retry is not None:
        action.retry_policy.CopyFrom(retry)
    if weighted:
        action.weighted_clusters.clusters.extend(
            rc.WeightedCluster.ClusterWeight(name=name, weight=uint32(weight))
            for name, weight in clusters
        )
    else:
        action.cluster = clusters[0][0]
    per_request = timeout.per_request if timeout is not None else None
    action.timeout.CopyFrom(
        to_duration(per_request) if per_request is not None else duration_ms(DEFAULT_PER_REQUEST_MS)
    )
    if timeout is not None and timeout.idle is not None:
        action.idle_timeout.CopyFrom(to_duration(timeout.idle))
    return action


def mesh_route(name: str, body: HttpRoute | GrpcRoute, clusters: Clusters) -> rc.Route:
    """One App Mesh http/http2/grpc route -> one Envoy route with weighted clusters."""
    grpc = isinstance(body, GrpcRoute)
    match = grpc_route_match(body.match) if grpc else http_route_match(body.match)
    action = route_action(
        clusters, body.timeout, retry_policy(body.retry_policy, grpc), weighted=True
    )
    return rc.Route(name=name, match=match, route=action)


def catch_all_route(
    name: str,
    cluster: str,
    *,
    grpc: bool = False,
    timeout: HttpTimeout | None = None,
    retries: bool = True,
) -> rc.Route:
    """Everything to one cluster, with App Mesh's default timeout (and default retries if asked).

    Egress to a virtual service provided directly by a virtual node gets the default retry policy
    (App Mesh creates an Envoy route with it for such providers too); ingress to the local
    application and the ALLOW_ALL passthrough do not retry.
    """
    retry = retry_policy(None, grpc) if retries else None
    action = route_action([(cluster, 1)], timeout, retry, weighted=False)
    return rc.Route(name=name, match=rc.RouteMatch(prefix="/"), route=action)
