"""Building a MeshModel: index the resources of one mesh, normalise, validate.

Normalisation of the 2018 preview shapes that needs more than one resource happens here:
- a VirtualRouter's preview `serviceNames` become VirtualServices provided by that router (unless
  a VirtualService of that name is declared; it must then name this router as its provider);
- a VirtualRouter without listeners (the preview had none) gets the listener its routes' targets
  share: the (port, protocol) of their listeners. Targets that disagree are an error asking for
  an explicit `spec.listeners`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from proxyinit.mesh.model.base import PortMapping
from proxyinit.mesh.model.gateway import GatewayRoute, VirtualGateway
from proxyinit.mesh.model.gateway_check import index_gateways, validate_gateways
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.model.problems import check_in_mesh, resource_error
from proxyinit.mesh.model.resources import (
    Mesh,
    Route,
    VirtualNode,
    VirtualRouter,
    VirtualRouterListener,
    VirtualRouterSpec,
    VirtualService,
)
from proxyinit.mesh.model.route_order import route_sort_key
from proxyinit.mesh.model.validate import validate_mesh, validate_route_refs


def build_mesh(
    mesh: Mesh,
    resources: Iterable[
        VirtualNode | VirtualService | VirtualRouter | Route | VirtualGateway | GatewayRoute
    ],
) -> MeshModel:
    """Normalise and validate; raise ConfigError naming the first bad resource and field."""
    resources = list(resources)
    gateways, gateway_routes = index_gateways(mesh.mesh_name, resources)
    resources = [r for r in resources if not isinstance(r, VirtualGateway | GatewayRoute)]
    nodes, services, routers, routes = _index(mesh.mesh_name, resources)
    services = _services_from_preview_routers(mesh.mesh_name, routers, services)
    for router_routes in routes.values():
        for route in router_routes:
            validate_route_refs(route, nodes, routers)
    routers = {n: _with_derived_listener(r, routes.get(n, ()), nodes) for n, r in routers.items()}
    ordered = {n: tuple(sorted(routes.get(n, ()), key=route_sort_key)) for n in routers}
    model = MeshModel(
        mesh=mesh,
        nodes=MappingProxyType(dict(sorted(nodes.items()))),
        services=MappingProxyType(dict(sorted(services.items()))),
        routers=MappingProxyType(dict(sorted(routers.items()))),
        routes=MappingProxyType(dict(sorted(ordered.items()))),
        gateways=MappingProxyType(dict(sorted(gateways.items()))),
        gateway_routes=MappingProxyType(dict(sorted(gateway_routes.items()))),
    )
    validate_mesh(model)
    validate_gateways(model)
    return model


def _index(mesh: str, resources: Iterable) -> tuple[dict, dict, dict, dict[str, list[Route]]]:
    nodes: dict[str, VirtualNode] = {}
    services: dict[str, VirtualService] = {}
    routers: dict[str, VirtualRouter] = {}
    routes: dict[str, list[Route]] = {}
    by_kind = {VirtualNode: nodes, VirtualService: services, VirtualRouter: routers}
    for res in resources:
        check_in_mesh(res, mesh)
        if isinstance(res, Route):
            same = routes.setdefault(res.virtual_router_name, [])
            if any(r.route_name == res.route_name for r in same):
                raise resource_error(
                    "Route",
                    res.route_name,
                    mesh,
                    "routeName",
                    f"declared twice in virtual router {res.virtual_router_name!r}",
                    res.route_name,
                )
            same.append(res)
            continue
        table = by_kind.get(type(res))
        if table is None:
            raise TypeError(
                f"build_mesh takes nodes, services, routers and routes, not {type(res).__name__}"
            )
        if res.name in table:
            raise resource_error(
                res.KIND, res.name, mesh, _name_field(res), "declared twice", res.name
            )
        table[res.name] = res
    return nodes, services, routers, routes


def _name_field(res) -> str:
    return {
        "VirtualNode": "virtualNodeName",
        "VirtualService": "virtualServiceName",
        "VirtualRouter": "virtualRouterName",
    }[res.KIND]


def _services_from_preview_routers(
    mesh: str, routers: dict[str, VirtualRouter], services: dict[str, VirtualService]
) -> dict[str, VirtualService]:
    out = dict(services)
    for router in routers.values():
        for index, name in enumerate(router.preview_service_names):
            declared = out.get(name)
            if declared is None:
                out[name] = VirtualService.model_validate(
                    {
                        "meshName": mesh,
                        "virtualServiceName": name,
                        "spec": {"provider": {"virtualRouter": {"virtualRouterName": router.name}}},
                    }
                )
                continue
            provider = declared.spec.provider
            if (
                provider is None
                or provider.virtual_router is None
                or provider.virtual_router.virtual_router_name != router.name
            ):
                raise resource_error(
                    "VirtualRouter",
                    router.name,
                    mesh,
                    f"spec.serviceNames[{index}]",
                    f"virtual service {name!r} is declared with another provider",
                    name,
                )
    return out


def _with_derived_listener(
    router: VirtualRouter, routes: Iterable[Route], nodes: Mapping[str, VirtualNode]
) -> VirtualRouter:
    if router.spec.listeners:
        return router
    mappings: set[tuple[int, str]] = set()
    for route in routes:
        for target in route.spec.body.action.weighted_targets:
            for listener in nodes[target.virtual_node].spec.listeners:
                if target.port in (None, listener.port_mapping.port):
                    mappings.add((listener.port_mapping.port, listener.port_mapping.protocol))
    if len(mappings) != 1:
        found = sorted(mappings) or "no target listener"
        raise resource_error(
            "VirtualRouter",
            router.name,
            router.mesh_name,
            "spec.listeners",
            "no listeners given and the routes' targets do not share exactly one "
            "port/protocol to derive one from (2018 preview shape): give spec.listeners",
            found,
        )
    port, protocol = mappings.pop()
    listener = VirtualRouterListener(port_mapping=PortMapping(port=port, protocol=protocol))
    return router.model_copy(update={"spec": VirtualRouterSpec(listeners=(listener,))})
