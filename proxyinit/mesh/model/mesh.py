"""MeshModel: every resource of ONE mesh, normalised and validated together, immutable.

Build one with `build_mesh(mesh, resources)` (model/build.py; never the bare constructor), so a
MeshModel in hand is always valid: translation may assume every reference resolves. The lookups
here are shared by validation (which refuses what does not resolve) and translation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from proxyinit.mesh.model.base import PortMapping
from proxyinit.mesh.model.cloudmap import CloudMapInstance, CloudMapQuery
from proxyinit.mesh.model.gateway import GatewayRoute, VirtualGateway
from proxyinit.mesh.model.problems import resource_error
from proxyinit.mesh.model.resources import (
    Mesh,
    Route,
    VirtualNode,
    VirtualRouter,
    VirtualService,
)


@dataclass(frozen=True)
class MeshModel:
    """All resources of one mesh. Mappings are read-only; routes are in match order per router."""

    mesh: Mesh
    nodes: Mapping[str, VirtualNode]
    services: Mapping[str, VirtualService]
    routers: Mapping[str, VirtualRouter]
    routes: Mapping[str, tuple[Route, ...]]  # router name -> its routes, first match first
    # Virtual gateways and, per gateway, its gateway routes in match order (model/gateway.py).
    gateways: Mapping[str, VirtualGateway] = field(default_factory=lambda: MappingProxyType({}))
    gateway_routes: Mapping[str, tuple[GatewayRoute, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # What AWS Cloud Map answered for each awsCloudMap query, as the control plane last saw it
    # (controlplane/cloudmap.py); not part of the spec: translation reads it as data.
    discovered: Mapping[CloudMapQuery, tuple[CloudMapInstance, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # What `rebuild_mesh` changed: {table: (the previous model's mapping, the keys written)}, so
    # a diff against that model reads those keys only (controlplane/incremental.py). Not part of
    # the model's value; {} when built whole.
    delta: Mapping[str, tuple[Mapping, frozenset]] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )

    @property
    def name(self) -> str:
        return self.mesh.mesh_name

    @property
    def egress_filter(self) -> str:
        return self.mesh.spec.egress_filter.type

    def ip_preference(self, node: VirtualNode) -> str | None:
        """The node's DNS ipPreference, else the mesh's, else None (no preference)."""
        discovery = node.spec.service_discovery
        if discovery is not None and discovery.ip_preference is not None:
            return discovery.ip_preference
        mesh_discovery = self.mesh.spec.service_discovery
        return None if mesh_discovery is None else mesh_discovery.ip_preference

    def cloud_map_queries(self) -> set[CloudMapQuery]:
        """The DiscoverInstances queries of this mesh's awsCloudMap nodes."""
        discoveries = (node.spec.service_discovery for node in self.nodes.values())
        return {d.aws_cloud_map.query() for d in discoveries if d and d.aws_cloud_map}

    def node(self, name: str) -> VirtualNode:
        return self._member(self.nodes, name, "virtualNodes", "virtual node")

    def resources(self) -> list:
        """Every resource, mesh first, in a stable order (for the API and debug listings)."""
        out: list = [
            self.mesh,
            *self.nodes.values(),
            *self.services.values(),
            *self.routers.values(),
        ]
        for router_routes in self.routes.values():
            out.extend(router_routes)
        out.extend(self.gateways.values())
        for gateway_routes in self.gateway_routes.values():
            out.extend(gateway_routes)
        return out

    def gateway(self, name: str) -> VirtualGateway:
        return self._member(self.gateways, name, "virtualGateways", "virtual gateway")

    def _member(self, table: Mapping, name: str, field: str, what: str):
        """table[name], or a ConfigError naming the mesh, the name and the ones it has."""
        try:
            return table[name]
        except KeyError:
            known = ", ".join(table) or "none"
            message = f"no {what} named {name!r} (known: {known})"
            raise resource_error("Mesh", self.name, None, field, message, name) from None

    def service_mappings(self, service: VirtualService) -> tuple[PortMapping, ...]:
        """The ports (and protocols) a virtual service answers on: its provider's listeners."""
        provider = service.spec.provider
        if provider is None:
            return ()
        if provider.virtual_node is not None:
            node = self.nodes[provider.virtual_node.virtual_node_name]
            return tuple(listener.port_mapping for listener in node.spec.listeners)
        router = self.routers[provider.virtual_router.virtual_router_name]
        return tuple(listener.port_mapping for listener in router.spec.listeners)
