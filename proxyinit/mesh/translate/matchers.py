"""App Mesh header, metadata, method and query-parameter conditions -> Envoy matchers (pure).

One place for the conditions a virtual router's route and a virtual gateway's route share, so
the two translate them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from envoy.type.v3 import range_pb2

from proxyinit.mesh.model.route import HeaderMatch, HeaderMatchMethod, HttpQueryParameter


def header_matcher(name: str, method: HeaderMatchMethod | None, invert: bool) -> rc.HeaderMatcher:
    matcher = rc.HeaderMatcher(name=name, invert_match=invert)
    if method is None:
        matcher.present_match = True
    elif method.range is not None:
        matcher.range_match.CopyFrom(
            range_pb2.Int64Range(start=method.range.start, end=method.range.end)
        )
    elif method.regex is not None:
        matcher.string_match.safe_regex.CopyFrom(regex_pb2.RegexMatcher(regex=method.regex))
    else:
        for field in ("exact", "prefix", "suffix"):
            if getattr(method, field) is not None:
                setattr(matcher.string_match, field, getattr(method, field))
    return matcher


def header_matchers(matches: Iterable[HeaderMatch] | None) -> list[rc.HeaderMatcher]:
    """An HTTP route's `headers[]` or a gRPC route's `metadata[]` (the same shape)."""
    return [header_matcher(m.name, m.match, m.invert) for m in matches or ()]


def exact_header(name: str, value: str) -> rc.HeaderMatcher:
    return rc.HeaderMatcher(name=name, string_match=string_pb2.StringMatcher(exact=value))


def query_matcher(param: HttpQueryParameter) -> rc.QueryParameterMatcher:
    matcher = rc.QueryParameterMatcher(name=param.name)
    if param.match is not None and param.match.exact is not None:
        matcher.string_match.exact = param.match.exact
    else:
        matcher.present_match = True  # a parameter named without a value: present
    return matcher


def add_http_conditions(
    out: rc.RouteMatch,
    headers: Iterable[HeaderMatch] | None,
    method: str | None,
    query_parameters: Iterable[HttpQueryParameter] | None,
    scheme: str | None = None,
) -> rc.RouteMatch:
    """Headers, then `:method` and `:scheme`, into `out.headers`; query parameters into theirs."""
    out.headers.extend(header_matchers(headers))
    if method is not None:
        out.headers.append(exact_header(":method", method))
    if scheme is not None:
        out.headers.append(exact_header(":scheme", scheme))
    out.query_parameters.extend(query_matcher(p) for p in query_parameters or ())
    return out
