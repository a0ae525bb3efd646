"""Lookups shared by validation and translation: which port a target or a service is reached on.

Pure functions over already-parsed resources. Validation (validate.py) calls them to reject what
does not resolve; translation calls them on a valid MeshModel, where they always resolve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxyinit.mesh.model import Route, VirtualNode, VirtualService
from proxyinit.mesh.model_base import PortMapping
from proxyinit.mesh.model_route import WeightedTarget

if TYPE_CHECKING:
    from proxyinit.mesh.mesh_model import MeshModel

# The proxy's own ports (APPMESH_ENVOY_INGRESS_PORT / APPMESH_ENVOY_EGRESS_PORT of the walkthrough's
# task definition). No application listener or backend may use them: traffic to them is refused.
PROXY_PORTS: tuple[int, ...] = (15000, 15001)


def target_mapping(node: VirtualNode, target: WeightedTarget) -> PortMapping | None:
    """The target node's listener the target sends to: `target.port`, or the node's only listener."""
    mappings = [listener.port_mapping for listener in node.spec.listeners]
    if target.port is not None:
        return next((m for m in mappings if m.port == target.port), None)
    return mappings[0] if len(mappings) == 1 else None


def service_mappings(model: MeshModel, service: VirtualService) -> tuple[PortMapping, ...]:
    """The ports (and protocols) a virtual service answers on: those of its provider's listeners."""
    provider = service.spec.provider
    if provider is None:
        return ()
    if provider.virtual_node is not None:
        node = model.nodes[provider.virtual_node.virtual_node_name]
        return tuple(listener.port_mapping for listener in node.spec.listeners)
    router = model.routers[provider.virtual_router.virtual_router_name]
    return tuple(listener.port_mapping for listener in router.spec.listeners)


def routes_for_listener(routes: tuple[Route, ...], mapping: PortMapping) -> list[Route]:
    """A router's routes that serve one of its listeners: same protocol, and same port if matched."""
    return [
        route
        for route in routes
        if route.spec.protocol == mapping.protocol and route.spec.match_port in (None, mapping.port)
    ]
