"""Gateway route matches -> Envoy RouteMatch, with the prefix rewrite that goes with each (pure).

App Mesh rewrites the matched prefix to `/` by default (virtual gateway user guide: match prefix
`/chapter`, request `/chapter/1` -> `/1`). Envoy's prefix_rewrite replaces exactly the matched
characters, so a prefix without a trailing `/` becomes two routes: `/chapter/` -> `/` first (so
`/chapter/1` -> `/1`, not `//1`), then `/chapter` -> `/` (`/chapterx` -> `/x`, `/chapter` -> `/`).
"""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.matcher.v3 import regex_pb2, string_pb2

from proxyinit.mesh.model.gateway import GatewayRoute, GatewayRouteHostnameMatch, HttpGatewayRoute
from proxyinit.mesh.model.route import GrpcRoute, HttpRoute
from proxyinit.mesh.translate.http import http_route_match
from proxyinit.mesh.translate.matchers import add_http_conditions, header_matchers

MatchRewrite = tuple[rc.RouteMatch, str | None]  # (match, prefix_rewrite or None)


def _hostname(match: GatewayRouteHostnameMatch) -> rc.HeaderMatcher:
    # Host names compare case-insensitively; the port is stripped by the connection manager.
    string = (
        string_pb2.StringMatcher(exact=match.exact, ignore_case=True)
        if match.exact is not None
        else string_pb2.StringMatcher(suffix=match.suffix, ignore_case=True)
    )
    return rc.HeaderMatcher(name=":authority", string_match=string)


def _conditions(out: rc.RouteMatch, route: GatewayRoute) -> rc.RouteMatch:
    body = route.spec.body
    match = body.match
    if match.hostname is not None:
        out.headers.append(_hostname(match.hostname))
    if isinstance(body, HttpGatewayRoute):
        return add_http_conditions(out, match.headers, match.method, match.query_parameters)
    out.headers.extend(header_matchers(match.metadata))
    return out


def _prefix_rewrites(route: HttpGatewayRoute, prefix: str) -> list[tuple[str, str | None]]:
    """[(prefix to match, its prefix_rewrite)] in match order."""
    rewrite = route.action.rewrite.prefix if route.action.rewrite is not None else None
    if rewrite is not None and rewrite.value is not None:
        return [(prefix, rewrite.value)]
    if (rewrite is not None and rewrite.default_prefix == "DISABLED") or prefix == "/":
        return [(prefix, None)]
    if prefix.endswith("/"):
        return [(prefix, "/")]
    return [(prefix + "/", "/"), (prefix, "/")]


def gateway_match(route: GatewayRoute) -> list[MatchRewrite]:
    """The Envoy matches of one gateway route, in order, each with its prefix rewrite."""
    body = route.spec.body
    if not isinstance(body, HttpGatewayRoute):
        service = body.match.service_name
        out = rc.RouteMatch(
            prefix=f"/{service}/" if service else "/", grpc=rc.RouteMatch.GrpcRouteMatchOptions()
        )
        return [(_conditions(out, route), None)]
    path = body.match.path
    if path is not None:
        out = rc.RouteMatch()
        if path.exact is not None:
            out.path = path.exact
        else:
            out.safe_regex.CopyFrom(regex_pb2.RegexMatcher(regex=path.regex))
        return [(_conditions(out, route), None)]
    return [
        (_conditions(rc.RouteMatch(prefix=prefix), route), rewrite)
        for prefix, rewrite in _prefix_rewrites(body, body.match.prefix or "/")
    ]


def _router_path(
    match: rc.RouteMatch, rewrite: str | None, route: HttpRoute
) -> MatchRewrite | bool | None:
    """The gateway match and rewrite narrowed by the router route's path condition, which App
    Mesh applied to the path the gateway forwards (after its rewrite): `False` if the two can
    never both hold (the Envoy route is left out), None if one Envoy route cannot express them.

    With the gateway's prefix P rewritten to W, the forwarded path is W + rest: a router prefix
    R starting with W needs rest to start with R[len(W):], so the route matches P + R[len(W):]
    and rewrites that to R; an exact router path X starting with W likewise matches the path
    P + X[len(W):]. A W starting with R always matches. Without a rewrite W = P, rest = ''."""
    router_prefix = route.match.prefix if route.match.path is None else None
    exact = route.match.path.exact if route.match.path is not None else None
    if router_prefix in (None, "/") and exact is None:
        return match, rewrite  # no path condition, or a regex one (refused by the caller)
    if match.WhichOneof("path_specifier") != "prefix":
        return None
    prefix = match.prefix
    forwarded = prefix if rewrite is None else rewrite
    wanted = router_prefix if exact is None else exact
    if exact is None and forwarded.startswith(wanted):
        return match, rewrite
    if not wanted.startswith(forwarded):
        return False
    out = rc.RouteMatch()
    out.CopyFrom(match)
    if exact is None:
        out.prefix = prefix + wanted[len(forwarded) :]
    else:
        out.path = prefix + wanted[len(forwarded) :]
    return out, (wanted if rewrite is not None else None)


def merge_router_match(
    match_rewrite: MatchRewrite, router_route: HttpRoute | GrpcRoute
) -> MatchRewrite | bool | None:
    """The gateway match narrowed by a router route's conditions (headers, method, query
    parameters, scheme, metadata, and a prefix or exact path: `_router_path`); False if they can
    never both hold; None if they cannot be combined in one Envoy route (a router route with a
    regex path or a gRPC service name)."""
    match, rewrite = match_rewrite
    merged = rc.RouteMatch()
    merged.CopyFrom(match)
    if isinstance(router_route, GrpcRoute):
        if router_route.match.service_name is not None:
            return None
        merged.headers.extend(header_matchers(router_route.match.metadata))
        return merged, rewrite
    path = router_route.match.path
    if path is not None and path.exact is None:
        return None
    narrowed = _router_path(merged, rewrite, router_route)
    if not narrowed:
        return narrowed
    merged, rewrite = narrowed
    extra = http_route_match(router_route.match)
    merged.headers.extend(extra.headers)
    merged.query_parameters.extend(extra.query_parameters)
    return merged, rewrite
