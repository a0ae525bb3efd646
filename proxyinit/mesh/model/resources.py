"""The App Mesh resources in App Mesh's own JSON shape (2019-01-25 API), plus the 2018 preview shapes.

Specs (MeshSpec, VirtualNodeSpec, VirtualServiceSpec, VirtualRouterSpec, RouteSpec) are the API's
`spec` objects; the App Mesh REST API (proxyinit/api) reads and returns these same classes, so they
stay faithful to botocore's `appmesh/2019-01-25/service-2.json`. The resource classes (Mesh, VirtualNode,
...) are the `aws appmesh create-* --cli-input-json` inputs: names + spec.

2018 preview shapes (the colorapp walkthrough, tests/data/colorapp/) are normalised here, per resource:
- VirtualNode `backends: ["name"]`  -> `backends: [{virtualService: {virtualServiceName: name}}]`
- VirtualNode `serviceDiscovery.dns.serviceName` -> `serviceDiscovery.dns.hostname`
- VirtualRouter `spec.serviceNames` -> kept aside (`preview_service_names`); MeshModel turns each name
  into a VirtualService provided by this router (see build.py).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from proxyinit.mesh.model.access_log import Logging
from proxyinit.mesh.model.base import (
    ApiModel,
    HttpTimeout,
    PortMapping,
    ResourceName,
    ServiceName,
    TcpTimeout,
)
from proxyinit.mesh.model.cloudmap import AwsCloudMapServiceDiscovery
from proxyinit.mesh.model.listener import ConnectionPool, HealthCheckPolicy, OutlierDetection
from proxyinit.mesh.model.route import RouteSpec, WeightedTarget
from proxyinit.mesh.model.tls import BackendDefaults, ClientPolicy, ListenerTls

__all__ = [
    "Mesh",
    "MeshSpec",
    "Resource",
    "Route",
    "RouteSpec",
    "VirtualNode",
    "VirtualNodeSpec",
    "VirtualRouter",
    "VirtualRouterSpec",
    "VirtualService",
    "VirtualServiceSpec",
]


# ---------------------------------------------------------------------------------------- Mesh
class EgressFilter(ApiModel):
    type: Literal["ALLOW_ALL", "DROP_ALL"]


# IpPreference: which address family Envoy resolves, binds and reaches the local app with.
IpPreference = Literal["IPv6_PREFERRED", "IPv4_PREFERRED", "IPv4_ONLY", "IPv6_ONLY"]


class MeshServiceDiscovery(ApiModel):
    ip_preference: IpPreference | None = None


class MeshSpec(ApiModel):
    # The API's default is DROP_ALL ("By default, the type is DROP_ALL", EgressFilterType doc).
    egress_filter: EgressFilter = EgressFilter(type="DROP_ALL")
    service_discovery: MeshServiceDiscovery | None = None


# -------------------------------------------------------------------------------- VirtualNode
class ListenerTimeout(ApiModel):
    """A union in the API: one member, matching the listener's protocol."""

    http: HttpTimeout | None = None
    http2: HttpTimeout | None = None
    grpc: HttpTimeout | None = None
    tcp: TcpTimeout | None = None


class Listener(ApiModel):
    port_mapping: PortMapping
    timeout: ListenerTimeout | None = None
    health_check: HealthCheckPolicy | None = None
    connection_pool: ConnectionPool | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ListenerTls | None = None

    @model_validator(mode="after")
    def _pool_matches_protocol(self) -> Listener:
        # VirtualNodeConnectionPool: the member is the listener's protocol.
        protocol = self.port_mapping.protocol
        if self.connection_pool is not None and self.connection_pool.given() != [protocol]:
            raise ValueError(
                f"connectionPool is given for {self.connection_pool.given()[0]!r} but the "
                f"listener protocol is {protocol!r}: give exactly connectionPool.{protocol}"
            )
        return self

    @model_validator(mode="after")
    def _health_check_fits(self) -> Listener:
        check, mapping = self.health_check, self.port_mapping
        if check is None:
            return self
        # HealthCheckPolicy.port: "This port must match the port defined in the PortMapping".
        if check.port not in (None, mapping.port):
            raise ValueError(
                f"healthCheck.port {check.port} must be the listener's port {mapping.port}"
            )
        # Envoy runs gRPC health checks only over an HTTP/2 cluster ("cluster must support
        # HTTP/2 for gRPC healthchecking"): refused here rather than NACKed by the node's Envoy.
        if check.protocol == "grpc" and mapping.protocol not in ("grpc", "http2"):
            raise ValueError(
                f"healthCheck.protocol 'grpc' needs a grpc or http2 listener, not {mapping.protocol!r}"
            )
        return self

    @model_validator(mode="after")
    def _timeout_matches_protocol(self) -> Listener:
        if self.timeout is None:
            return self
        given = [k for k, v in self.timeout if v is not None]
        if given and given != [self.port_mapping.protocol]:
            raise ValueError(
                f"timeout is given for {given} but the listener protocol is "
                f"{self.port_mapping.protocol!r}: give exactly timeout.{self.port_mapping.protocol}"
            )
        return self


class DnsServiceDiscovery(ApiModel):
    hostname: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    # LOADBALANCER (one address, Envoy LOGICAL_DNS) or ENDPOINTS (all addresses, STRICT_DNS).
    response_type: Literal["LOADBALANCER", "ENDPOINTS"] | None = None
    # Overrides the mesh's serviceDiscovery.ipPreference for this node (DnsServiceDiscovery doc).
    ip_preference: IpPreference | None = None

    @model_validator(mode="before")
    @classmethod
    def _preview_service_name(cls, data: Any) -> Any:
        # 2018 preview: `dns.serviceName` (tests/data/colorapp/colorgateway-vn.json).
        if isinstance(data, dict) and "serviceName" in data:
            data = dict(data)
            name = data.pop("serviceName")
            if data.setdefault("hostname", name) != name:
                raise ValueError(f"serviceName {name!r} and hostname {data['hostname']!r} disagree")
        return data


class ServiceDiscovery(ApiModel):
    """A union in the API: exactly one of dns / awsCloudMap."""

    dns: DnsServiceDiscovery | None = None
    aws_cloud_map: AwsCloudMapServiceDiscovery | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ServiceDiscovery:
        if (self.dns is None) == (self.aws_cloud_map is None):
            raise ValueError(
                "give exactly one of serviceDiscovery.dns, serviceDiscovery.awsCloudMap"
            )
        return self

    @property
    def ip_preference(self) -> str | None:
        return (self.dns or self.aws_cloud_map).ip_preference


class VirtualServiceBackend(ApiModel):
    virtual_service_name: ServiceName
    client_policy: ClientPolicy | None = None


class Backend(ApiModel):
    virtual_service: VirtualServiceBackend


class VirtualNodeSpec(ApiModel):
    listeners: tuple[Listener, ...] = ()
    service_discovery: ServiceDiscovery | None = None
    backends: tuple[Backend, ...] = ()
    backend_defaults: BackendDefaults | None = None
    logging: Logging | None = None

    @field_validator("backends", mode="before")
    @classmethod
    def _preview_backends(cls, value: Any) -> Any:
        # 2018 preview: `backends: ["colorteller.default.svc.cluster.local"]`.
        if isinstance(value, list):
            return [
                {"virtualService": {"virtualServiceName": item}} if isinstance(item, str) else item
                for item in value
            ]
        return value

    @model_validator(mode="after")
    def _listener_needs_discovery(self) -> VirtualNodeSpec:
        # API doc (VirtualNodeSpec.serviceDiscovery): "If you specify a listener, then you must
        # specify service discovery information."
        if self.listeners and self.service_discovery is None:
            raise ValueError("serviceDiscovery is required when listeners are given")
        return self


# ----------------------------------------------------------------------------- VirtualService
class VirtualNodeServiceProvider(ApiModel):
    virtual_node_name: ResourceName


class VirtualRouterServiceProvider(ApiModel):
    virtual_router_name: ResourceName


class VirtualServiceProvider(ApiModel):
    """A union in the API: exactly one of virtualNode / virtualRouter."""

    virtual_node: VirtualNodeServiceProvider | None = None
    virtual_router: VirtualRouterServiceProvider | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> VirtualServiceProvider:
        if (self.virtual_node is None) == (self.virtual_router is None):
            raise ValueError("give exactly one of provider.virtualNode, provider.virtualRouter")
        return self


class VirtualServiceSpec(ApiModel):
    provider: VirtualServiceProvider | None = None


# ------------------------------------------------------------------------------ VirtualRouter
class VirtualRouterListener(ApiModel):
    port_mapping: PortMapping


class VirtualRouterSpec(ApiModel):
    listeners: tuple[VirtualRouterListener, ...] = ()


# ------------------------------------------------------------------ resources (create-* inputs)
class Tag(ApiModel):
    key: str = Field(min_length=1, max_length=128)  # TagKey
    value: str | None = Field(default=None, max_length=256)  # TagValue


class _Resource(ApiModel):
    mesh_name: ResourceName
    # Accepted because `aws appmesh create-* --generate-cli-skeleton` emits them; they do not
    # change what Envoy receives, so they are kept but unused (`mesh apply` stores the tags).
    # Bounded as the API bounds them: clientToken "up to 36 letters, numbers, hyphens, and
    # underscores", AccountId 12 characters (the skeleton's "" too), at most 50 tags.
    client_token: str | None = Field(default=None, max_length=36, pattern=r"^[A-Za-z0-9_-]*$")
    mesh_owner: str | None = Field(default=None, max_length=12)
    tags: tuple[Tag, ...] | None = Field(default=None, max_length=50)


class Mesh(_Resource):
    KIND: ClassVar[str] = "Mesh"
    spec: MeshSpec = MeshSpec()

    @property
    def name(self) -> str:
        return self.mesh_name


class VirtualNode(_Resource):
    KIND: ClassVar[str] = "VirtualNode"
    virtual_node_name: ResourceName
    spec: VirtualNodeSpec

    @property
    def name(self) -> str:
        return self.virtual_node_name

    def target_mapping(self, target: WeightedTarget) -> PortMapping | None:
        """The listener a route target sends to: `target.port`, or the node's only listener."""
        mappings = [listener.port_mapping for listener in self.spec.listeners]
        if target.port is not None:
            return next((m for m in mappings if m.port == target.port), None)
        return mappings[0] if len(mappings) == 1 else None


class VirtualService(_Resource):
    KIND: ClassVar[str] = "VirtualService"
    virtual_service_name: ServiceName
    spec: VirtualServiceSpec = VirtualServiceSpec()

    @property
    def name(self) -> str:
        return self.virtual_service_name


class VirtualRouter(_Resource):
    KIND: ClassVar[str] = "VirtualRouter"
    virtual_router_name: ResourceName
    spec: VirtualRouterSpec = VirtualRouterSpec()
    # 2018 preview `spec.serviceNames`; not part of the API shape, so excluded from to_api().
    preview_service_names: tuple[ServiceName, ...] = Field(default=(), exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _preview_service_names(cls, data: Any) -> Any:
        spec = data.get("spec") if isinstance(data, dict) else None
        if isinstance(spec, dict) and "serviceNames" in spec:
            spec = dict(spec)
            data = {**data, "spec": spec, "previewServiceNames": spec.pop("serviceNames")}
        return data

    @property
    def name(self) -> str:
        return self.virtual_router_name


class Route(_Resource):
    KIND: ClassVar[str] = "Route"
    virtual_router_name: ResourceName
    route_name: ResourceName
    spec: RouteSpec

    @property
    def name(self) -> str:
        return self.route_name

    def serves(self, mapping: PortMapping) -> bool:
        """Whether this route serves a router listener: same protocol, and same port if matched."""
        return self.spec.protocol == mapping.protocol and self.spec.match_port in (
            None,
            mapping.port,
        )


Resource = Mesh | VirtualNode | VirtualService | VirtualRouter | Route
