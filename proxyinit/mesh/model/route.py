"""RouteSpec and its parts, in the App Mesh 2019-01-25 API shape (HttpRoute, GrpcRoute, TcpRoute).

Per-resource rules of the API model live here (unions have exactly one member, list bounds,
weight 0..100, priority 0..1000); rules that need other resources live in validate.py.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from proxyinit.mesh.model.base import (
    ApiModel,
    Bool,
    Duration,
    HeaderName,
    HttpTimeout,
    Int,
    MatchRange,
    ResourceName,
    TcpTimeout,
)

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
# HttpRetryPolicyEvent values documented in HttpRetryPolicy.httpRetryEvents.
HttpRetryEvent = Literal["server-error", "gateway-error", "client-error", "stream-error"]
GrpcRetryEvent = Literal[
    "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"
]
TcpRetryEvent = Literal["connection-error"]


def _exactly_one(model: ApiModel, names: tuple[str, ...], where: str) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        camel = [type(model).model_fields[n].alias or n for n in names]
        raise ValueError(f"give exactly one of {camel} in {where}, got {len(given)}")


class WeightedTarget(ApiModel):
    virtual_node: ResourceName
    weight: Int = Field(ge=0, le=100)
    port: Int | None = Field(default=None, ge=1, le=65535)


class RouteAction(ApiModel):
    """HttpRouteAction / GrpcRouteAction / TcpRouteAction: the same shape in the API."""

    weighted_targets: tuple[WeightedTarget, ...] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _total_weight(self) -> RouteAction:
        # WeightedTarget doc: "The total weight for all targets combined must be less than or
        # equal to 100."
        total = sum(t.weight for t in self.weighted_targets)
        if total > 100:
            raise ValueError(f"weightedTargets: total weight {total} is over 100 (the API's limit)")
        return self


class HeaderMatchMethod(ApiModel):
    """A union: exactly one of exact / prefix / suffix / regex / range."""

    exact: str | None = Field(default=None, min_length=1, max_length=255)
    prefix: str | None = Field(default=None, min_length=1, max_length=255)
    suffix: str | None = Field(default=None, min_length=1, max_length=255)
    regex: str | None = Field(default=None, min_length=1, max_length=255)
    range: MatchRange | None = None

    @model_validator(mode="after")
    def _one(self) -> HeaderMatchMethod:
        _exactly_one(self, ("exact", "prefix", "suffix", "regex", "range"), "match")
        return self


class HeaderMatch(ApiModel):
    """An HTTP route's `headers[]` entry, and a gRPC route's `metadata[]` entry (same shape)."""

    name: HeaderName
    invert: Bool = False
    match: HeaderMatchMethod | None = None


class HttpPathMatch(ApiModel):
    exact: str | None = Field(default=None, min_length=1, max_length=255)
    regex: str | None = Field(default=None, min_length=1, max_length=255)

    @model_validator(mode="after")
    def _one(self) -> HttpPathMatch:
        _exactly_one(self, ("exact", "regex"), "path")
        return self


# The model leaves these strings unbounded (`String`); they get the bounds of their siblings
# (HeaderMatch, HttpPathExact: 1-255), as every string a request carries must have one.
class QueryParameterMatch(ApiModel):
    exact: str | None = Field(default=None, max_length=255)


class HttpQueryParameter(ApiModel):
    name: str = Field(min_length=1, max_length=1024)  # Envoy's QueryParameterMatcher.name limit
    match: QueryParameterMatch | None = None


class HttpRouteMatch(ApiModel):
    prefix: str | None = Field(default=None, min_length=1, max_length=255)
    path: HttpPathMatch | None = None
    headers: tuple[HeaderMatch, ...] | None = Field(default=None, min_length=1, max_length=10)
    method: HttpMethod | None = None
    port: Int | None = Field(default=None, ge=1, le=65535)
    query_parameters: tuple[HttpQueryParameter, ...] | None = Field(
        default=None, min_length=1, max_length=10
    )
    scheme: Literal["http", "https"] | None = None

    @model_validator(mode="after")
    def _prefix_or_path(self) -> HttpRouteMatch:
        # App Mesh accepted a match with only `port` (every request to that listener port, as
        # prefix "/" would); without a port, one of prefix / path says what to match.
        if self.prefix is not None and self.path is not None:
            raise ValueError("give at most one of ['prefix', 'path'] in match, got 2")
        if self.prefix is None and self.path is None and self.port is None:
            raise ValueError("give one of ['prefix', 'path', 'port'] in match, got none")
        if self.prefix is not None and not self.prefix.startswith("/"):
            # HttpRouteMatch.prefix doc: "This parameter must always start with /".
            raise ValueError(f"match.prefix {self.prefix!r} must start with '/'")
        if (
            self.path is not None
            and self.path.exact is not None
            and not self.path.exact.startswith("/")
        ):
            raise ValueError(f"match.path.exact {self.path.exact!r} must start with '/'")
        return self


class HttpRetryPolicy(ApiModel):
    max_retries: Int = Field(ge=0, le=2**32 - 1)  # Envoy's num_retries is a UInt32Value
    per_retry_timeout: Duration
    http_retry_events: tuple[HttpRetryEvent, ...] | None = Field(
        default=None, min_length=1, max_length=25
    )
    tcp_retry_events: tuple[TcpRetryEvent, ...] | None = Field(
        default=None, min_length=1, max_length=1
    )

    @model_validator(mode="after")
    def _some_event(self) -> HttpRetryPolicy:
        # HttpRetryPolicy doc: "Specify at least one value for at least one of the types of RetryEvents".
        if not any(
            getattr(self, f, None)
            for f in ("http_retry_events", "tcp_retry_events", "grpc_retry_events")
        ):
            raise ValueError(
                "give at least one of httpRetryEvents, tcpRetryEvents, grpcRetryEvents"
            )
        return self


class GrpcRetryPolicy(HttpRetryPolicy):
    grpc_retry_events: tuple[GrpcRetryEvent, ...] | None = Field(
        default=None, min_length=1, max_length=5
    )


class HttpRoute(ApiModel):
    """The API's HttpRoute, used by both httpRoute and http2Route."""

    match: HttpRouteMatch
    action: RouteAction
    retry_policy: HttpRetryPolicy | None = None
    timeout: HttpTimeout | None = None


class GrpcRouteMatch(ApiModel):
    service_name: str | None = Field(
        default=None, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9_.]+$"
    )  # a DNS name's bound (ServiceName is unbounded in the model)
    method_name: str | None = Field(
        default=None, min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_]+$"
    )
    metadata: tuple[HeaderMatch, ...] | None = Field(default=None, min_length=1, max_length=10)
    port: Int | None = Field(default=None, ge=1, le=65535)

    @model_validator(mode="after")
    def _method_needs_service(self) -> GrpcRouteMatch:
        # GrpcRouteMatch.methodName doc: "If you specify a name, you must also specify a serviceName."
        if self.method_name is not None and self.service_name is None:
            raise ValueError("match.methodName needs match.serviceName")
        return self


class GrpcRoute(ApiModel):
    match: GrpcRouteMatch
    action: RouteAction
    retry_policy: GrpcRetryPolicy | None = None
    timeout: HttpTimeout | None = None


class TcpRouteMatch(ApiModel):
    port: Int | None = Field(default=None, ge=1, le=65535)


class TcpRoute(ApiModel):
    action: RouteAction
    match: TcpRouteMatch | None = None
    timeout: TcpTimeout | None = None


ROUTE_KINDS: dict[str, str] = {
    # RouteSpec member -> the listener protocol it serves.
    "http_route": "http",
    "http2_route": "http2",
    "grpc_route": "grpc",
    "tcp_route": "tcp",
}


class KindUnion(ApiModel):
    """A route spec (a virtual router's or a virtual gateway's): exactly one of its KINDS members
    (KINDS: member -> the listener protocol it serves)."""

    KINDS: ClassVar[dict[str, str]] = {}

    @model_validator(mode="after")
    def _one_kind(self) -> KindUnion:
        _exactly_one(self, tuple(self.KINDS), "spec")
        return self

    @property
    def kind(self) -> str:
        """The member in use: 'http_route', 'http2_route', 'grpc_route' or 'tcp_route'."""
        return next(k for k in self.KINDS if getattr(self, k) is not None)

    @property
    def protocol(self) -> str:
        return self.KINDS[self.kind]

    @property
    def body(self):
        return getattr(self, self.kind)


class RouteSpec(KindUnion):
    """Exactly one of httpRoute / http2Route / grpcRoute / tcpRoute, and an optional priority."""

    KINDS = ROUTE_KINDS
    http_route: HttpRoute | None = None
    http2_route: HttpRoute | None = None
    grpc_route: GrpcRoute | None = None
    tcp_route: TcpRoute | None = None
    # RoutePriority: 0..1000, "0 is the highest priority".
    priority: Int | None = Field(default=None, ge=0, le=1000)

    @property
    def match_port(self) -> int | None:
        match = self.body.match
        return None if match is None else match.port
