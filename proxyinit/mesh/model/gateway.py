"""VirtualGateway and GatewayRoute in the App Mesh 2019-01-25 API shape (issue 9, ingress gateways).

A virtual gateway is an Envoy-only service (no application, no iptables) that listens on its own
ports and sends what its gateway routes match to virtual services inside the mesh. Shapes and
bounds are botocore's (`VirtualGatewaySpec`, `GatewayRouteSpec`); the rules the model does not
encode but App Mesh enforced are in the validators, each saying where it is documented. Listener
`tls` and `backendDefaults.clientPolicy.tls` are the node shapes (tls.py).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from proxyinit.mesh.model.access_log import Logging
from proxyinit.mesh.model.base import ApiModel, Int, ResourceName, ServiceName
from proxyinit.mesh.model.listener import (
    HealthCheckPolicy,
    HttpConnectionPool,
    RequestConnectionPool,
)
from proxyinit.mesh.model.resources import _Resource
from proxyinit.mesh.model.route import (
    GrpcRouteMatch,
    HeaderMatch,
    HttpMethod,
    HttpPathMatch,
    HttpQueryParameter,
    KindUnion,
    _exactly_one,
)
from proxyinit.mesh.model.tls import ClientPolicyTls, ListenerTls

# VirtualGatewayPortProtocol: a gateway speaks HTTP only (no tcp).
GatewayProtocol = Literal["http", "http2", "grpc"]
Rewrite = Literal["ENABLED", "DISABLED"]  # DefaultGatewayRouteRewrite


# ------------------------------------------------------------------------------ VirtualGateway
class GatewayPortMapping(ApiModel):
    port: Int = Field(ge=1, le=65535)
    protocol: GatewayProtocol


class GatewayHealthCheckPolicy(HealthCheckPolicy):
    protocol: GatewayProtocol  # VirtualGatewayHealthCheckPolicy: no tcp


class GatewayConnectionPool(ApiModel):
    """VirtualGatewayConnectionPool: a union, the member being the listener's protocol."""

    http: HttpConnectionPool | None = None
    http2: RequestConnectionPool | None = None
    grpc: RequestConnectionPool | None = None

    @model_validator(mode="after")
    def _one(self) -> GatewayConnectionPool:
        _exactly_one(self, ("http", "http2", "grpc"), "connectionPool")
        return self

    def given(self) -> str:
        return next(name for name, value in self if value is not None)

    @property
    def tcp(self) -> None:
        # No tcp member in a gateway's pool; the node pool's translation (policies.py) asks.
        return None


class GatewayListener(ApiModel):
    port_mapping: GatewayPortMapping
    health_check: GatewayHealthCheckPolicy | None = None
    connection_pool: GatewayConnectionPool | None = None
    tls: ListenerTls | None = None

    @model_validator(mode="after")
    def _fits_protocol(self) -> GatewayListener:
        mapping, pool, check = self.port_mapping, self.connection_pool, self.health_check
        if pool is not None and pool.given() != mapping.protocol:
            raise ValueError(
                f"connectionPool is given for {pool.given()!r} but the listener protocol is "
                f"{mapping.protocol!r}: give exactly connectionPool.{mapping.protocol}"
            )
        if check is not None and check.port not in (None, mapping.port):
            raise ValueError(
                f"healthCheck.port {check.port} must be the listener's port {mapping.port}"
            )
        return self


class GatewayClientPolicy(ApiModel):
    """VirtualGatewayClientPolicy: the node's ClientPolicyTls shape."""

    tls: ClientPolicyTls | None = None


class GatewayBackendDefaults(ApiModel):
    client_policy: GatewayClientPolicy | None = None


class VirtualGatewaySpec(ApiModel):
    # VirtualGatewaySpec.listeners is required; App Mesh took one listener, later several
    # (howto-multiple-listeners): at least one, each on its own port (validate.py).
    listeners: tuple[GatewayListener, ...] = Field(min_length=1, max_length=50)
    backend_defaults: GatewayBackendDefaults | None = None
    logging: Logging | None = None


class VirtualGateway(_Resource):
    KIND: ClassVar[str] = "VirtualGateway"
    virtual_gateway_name: ResourceName
    spec: VirtualGatewaySpec

    @property
    def name(self) -> str:
        return self.virtual_gateway_name


# -------------------------------------------------------------------------------- GatewayRoute
class GatewayRouteHostnameMatch(ApiModel):
    exact: str | None = Field(default=None, min_length=1, max_length=253)
    suffix: str | None = Field(default=None, min_length=1, max_length=253)

    @model_validator(mode="after")
    def _one(self) -> GatewayRouteHostnameMatch:
        _exactly_one(self, ("exact", "suffix"), "hostname")
        return self


class GatewayRouteVirtualService(ApiModel):
    virtual_service_name: ServiceName


class GatewayRouteTarget(ApiModel):
    virtual_service: GatewayRouteVirtualService
    port: Int | None = Field(default=None, ge=1, le=65535)


class GatewayRouteHostnameRewrite(ApiModel):
    default_target_hostname: Rewrite | None = None


class HttpGatewayRoutePrefixRewrite(ApiModel):
    default_prefix: Rewrite | None = None
    value: str | None = Field(default=None, min_length=1, max_length=255)

    @model_validator(mode="after")
    def _one(self) -> HttpGatewayRoutePrefixRewrite:
        _exactly_one(self, ("default_prefix", "value"), "rewrite.prefix")
        # User guide (gateway routes, "prefix"): the rewritten prefix is a path, it starts with /.
        if self.value is not None and not self.value.startswith("/"):
            raise ValueError(f"rewrite.prefix.value {self.value!r} must start with '/'")
        return self


class HttpGatewayRoutePathRewrite(ApiModel):
    exact: str | None = Field(default=None, min_length=1, max_length=255)

    @model_validator(mode="after")
    def _slash(self) -> HttpGatewayRoutePathRewrite:
        if self.exact is not None and not self.exact.startswith("/"):
            raise ValueError(f"rewrite.path.exact {self.exact!r} must start with '/'")
        return self


class HttpGatewayRouteRewrite(ApiModel):
    hostname: GatewayRouteHostnameRewrite | None = None
    path: HttpGatewayRoutePathRewrite | None = None
    prefix: HttpGatewayRoutePrefixRewrite | None = None

    @model_validator(mode="after")
    def _path_or_prefix(self) -> HttpGatewayRouteRewrite:
        if self.path is not None and self.prefix is not None:
            raise ValueError("give at most one of ['path', 'prefix'] in rewrite, got 2")
        return self


class GrpcGatewayRouteRewrite(ApiModel):
    hostname: GatewayRouteHostnameRewrite | None = None


class HttpGatewayRouteAction(ApiModel):
    target: GatewayRouteTarget
    rewrite: HttpGatewayRouteRewrite | None = None


class GrpcGatewayRouteAction(ApiModel):
    target: GatewayRouteTarget
    rewrite: GrpcGatewayRouteRewrite | None = None


class HttpGatewayRouteMatch(ApiModel):
    prefix: str | None = Field(default=None, min_length=1, max_length=255)
    path: HttpPathMatch | None = None
    hostname: GatewayRouteHostnameMatch | None = None
    headers: tuple[HeaderMatch, ...] | None = Field(default=None, min_length=1, max_length=10)
    method: HttpMethod | None = None
    port: Int | None = Field(default=None, ge=1, le=65535)
    query_parameters: tuple[HttpQueryParameter, ...] | None = Field(
        default=None, min_length=1, max_length=10
    )

    @model_validator(mode="after")
    def _what_to_match(self) -> HttpGatewayRouteMatch:
        # User guide (gateway routes): a match gives a prefix, a path or a hostname; as for
        # routes, one with only `port` matches everything on that listener port.
        if self.prefix is not None and self.path is not None:
            raise ValueError("give at most one of ['prefix', 'path'] in match, got 2")
        if all(v is None for v in (self.prefix, self.path, self.hostname, self.port)):
            raise ValueError(
                "give one of ['prefix', 'path', 'hostname', 'port'] in match, got none"
            )
        if self.prefix is not None and not self.prefix.startswith("/"):
            raise ValueError(f"match.prefix {self.prefix!r} must start with '/'")
        exact = self.path.exact if self.path is not None else None
        if exact is not None and not exact.startswith("/"):
            raise ValueError(f"match.path.exact {exact!r} must start with '/'")
        return self


class HttpGatewayRoute(ApiModel):
    """The API's HttpGatewayRoute, used by both httpRoute and http2Route."""

    match: HttpGatewayRouteMatch
    action: HttpGatewayRouteAction

    @model_validator(mode="after")
    def _rewrite_fits_match(self) -> HttpGatewayRoute:
        # User guide (gateway routes, rewrite): a prefix rewrite rewrites a prefix match, a path
        # rewrite an (exact or regex) path match; a hostname rewrite goes with any match.
        rewrite = self.action.rewrite
        if rewrite is None:
            return self
        if rewrite.prefix is not None and self.match.prefix is None:
            raise ValueError("action.rewrite.prefix needs match.prefix")
        if rewrite.path is not None and self.match.path is None:
            raise ValueError("action.rewrite.path needs match.path")
        return self


class GrpcGatewayRouteMatch(ApiModel):
    """GrpcGatewayRouteMatch: serviceName, hostname, metadata, port (no methodName)."""

    service_name: str | None = GrpcRouteMatch.model_fields["service_name"]
    hostname: GatewayRouteHostnameMatch | None = None
    metadata: tuple[HeaderMatch, ...] | None = Field(default=None, min_length=1, max_length=10)
    port: Int | None = Field(default=None, ge=1, le=65535)


class GrpcGatewayRoute(ApiModel):
    match: GrpcGatewayRouteMatch
    action: GrpcGatewayRouteAction


GATEWAY_ROUTE_KINDS: dict[str, str] = {
    # GatewayRouteSpec member -> the gateway listener protocol it serves.
    "http_route": "http",
    "http2_route": "http2",
    "grpc_route": "grpc",
}


class GatewayRouteSpec(KindUnion):
    KINDS = GATEWAY_ROUTE_KINDS
    http_route: HttpGatewayRoute | None = None
    http2_route: HttpGatewayRoute | None = None
    grpc_route: GrpcGatewayRoute | None = None
    # GatewayRoutePriority: 0..1000, 0 the highest.
    priority: Int | None = Field(default=None, ge=0, le=1000)


class GatewayRoute(_Resource):
    KIND: ClassVar[str] = "GatewayRoute"
    virtual_gateway_name: ResourceName
    gateway_route_name: ResourceName
    spec: GatewayRouteSpec

    @property
    def name(self) -> str:
        return self.gateway_route_name

    @property
    def target(self) -> GatewayRouteTarget:
        return self.spec.body.action.target

    def serves(self, mapping: GatewayPortMapping) -> bool:
        """Whether this route serves a gateway listener: same protocol, and port if matched."""
        port = self.spec.body.match.port
        return self.spec.protocol == mapping.protocol and port in (None, mapping.port)
