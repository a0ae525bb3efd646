"""The order in which a router's routes are matched: priority, then specificity, then name.

Envoy matches routes first-to-last, so the order is the semantics. App Mesh: "Routes are matched
based on the specified value, where 0 is the highest priority" (RouteSpec.priority). Routes without
a priority come after every prioritised route. Between equal priorities the more specific match
goes first (exact path > regex path > longer prefix; then more header/metadata conditions), so a
catch-all `prefix: /` never shadows `prefix: /api`. The route name breaks the remaining ties, which
keeps the output deterministic.
"""

from __future__ import annotations

from proxyinit.mesh.model.resources import Route
from proxyinit.mesh.model.route import GrpcRoute, HttpRoute

_NO_PRIORITY = 1001  # after RoutePriority's maximum, 1000


def _http_specificity(route: HttpRoute) -> tuple[int, int, int]:
    match = route.match
    if match.path is not None:
        rank, length = (
            (3, len(match.path.exact))
            if match.path.exact is not None
            else (2, len(match.path.regex))
        )
    else:
        rank, length = 1, len(match.prefix or "/")  # only `port`: as prefix "/"
    extra = (
        len(match.headers or ())
        + len(match.query_parameters or ())
        + (match.method is not None)
        + (match.scheme is not None)
    )
    return rank, length, extra


def _grpc_specificity(route: GrpcRoute) -> tuple[int, int, int]:
    match = route.match
    rank = 3 if match.method_name else (2 if match.service_name else 1)
    return rank, 0, len(match.metadata or ())


def specificity(route: Route) -> tuple[int, int, int]:
    body = route.spec.body
    if isinstance(body, HttpRoute):
        return _http_specificity(body)
    if isinstance(body, GrpcRoute):
        return _grpc_specificity(body)
    return 0, 0, 0


def route_sort_key(route: Route) -> tuple:
    priority = route.spec.priority if route.spec.priority is not None else _NO_PRIORITY
    rank, length, extra = specificity(route)
    return priority, -rank, -length, -extra, route.route_name
