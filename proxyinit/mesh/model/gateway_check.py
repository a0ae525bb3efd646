"""Building and validating the virtual gateways of one mesh (the gateway half of build_mesh).

Kept apart from validate.py so the gateway rules read in one place: a gateway route belongs to a
gateway of the mesh, a listener of that gateway serves its protocol (and `match.port`), its target
virtual service exists (CreateGatewayRoute: the API refused a missing one) and, when the service
answers on several ports, `target.port` says which one.
"""

from __future__ import annotations

from collections.abc import Iterable

from proxyinit.mesh.model.base import PortMapping
from proxyinit.mesh.model.gateway import GatewayRoute, HttpGatewayRoute, VirtualGateway
from proxyinit.mesh.model.problems import check_in_mesh, resource_error

_NO_PRIORITY = 1001  # after GatewayRoutePriority's maximum, 1000


def _route_error(route: GatewayRoute, path: str, why: str, value) -> Exception:
    head, *rest = route.spec.kind.split("_")
    full = "spec." + head + "".join(p.title() for p in rest) + (f".{path}" if path else "")
    return resource_error(
        "GatewayRoute",
        route.name,
        route.mesh_name,
        full,
        f"{why} [virtual gateway {route.virtual_gateway_name!r}]",
        value,
    )


def index_gateways(
    mesh: str, resources: Iterable
) -> tuple[dict[str, VirtualGateway], dict[str, tuple[GatewayRoute, ...]]]:
    """{gateway name: gateway}, {gateway name: its routes in match order}; ConfigError on a
    resource of another mesh, a name given twice or a route of a gateway that does not exist."""
    gateways: dict[str, VirtualGateway] = {}
    routes: dict[str, list[GatewayRoute]] = {}
    for res in resources:
        if not isinstance(res, VirtualGateway | GatewayRoute):
            continue
        check_in_mesh(res, mesh)
        if isinstance(res, VirtualGateway):
            if res.name in gateways:
                raise resource_error(
                    res.KIND, res.name, mesh, "virtualGatewayName", "declared twice", res.name
                )
            gateways[res.name] = res
            continue
        same = routes.setdefault(res.virtual_gateway_name, [])
        if any(r.name == res.name for r in same):
            raise _route_error(res, "", "declared twice", res.name)
        same.append(res)
    for gateway_name, gateway_routes in routes.items():
        if gateway_name not in gateways:
            route = gateway_routes[0]
            raise resource_error(
                "GatewayRoute",
                route.name,
                mesh,
                "virtualGatewayName",
                "no virtual gateway of that name in the mesh",
                gateway_name,
            )
    ordered = {
        name: tuple(sorted(routes.get(name, ()), key=gateway_route_sort_key)) for name in gateways
    }
    return gateways, ordered


def gateway_route_sort_key(route: GatewayRoute) -> tuple:
    """Priority (0 first, none last), then the more specific match, then the name (stable).

    Envoy takes the first route that matches, so a catch-all `prefix: /` must come after
    `prefix: /api` and a hostname match before a route without one, as App Mesh matched them."""
    priority = route.spec.priority if route.spec.priority is not None else _NO_PRIORITY
    body = route.spec.body
    match = body.match
    host = match.hostname
    host_rank = 0 if host is None else (2 if host.exact is not None else 1)
    if isinstance(body, HttpGatewayRoute):
        if match.path is not None:
            exact = match.path.exact is not None
            rank, length = (3, len(match.path.exact)) if exact else (2, len(match.path.regex))
        else:
            rank, length = 1, len(match.prefix or "/")
        extra = (
            len(match.headers or ())
            + len(match.query_parameters or ())
            + (match.method is not None)
        )
    else:
        rank, length = (2, len(match.service_name)) if match.service_name else (1, 0)
        extra = len(match.metadata or ())
    return priority, -rank, -length, -host_rank, -extra, route.name


def validate_gateways(model) -> None:
    """Every gateway's listeners and every gateway route's references (model: a MeshModel)."""
    for gateway in model.gateways.values():
        seen: set[int] = set()
        for index, listener in enumerate(gateway.spec.listeners):
            port = listener.port_mapping.port
            if port in seen:
                raise resource_error(
                    "VirtualGateway",
                    gateway.name,
                    model.name,
                    f"spec.listeners[{index}].portMapping.port",
                    "two listeners on the same port",
                    port,
                )
            seen.add(port)
        for route in model.gateway_routes.get(gateway.name, ()):
            _validate_route(model, gateway, route)


def _validate_route(model, gateway: VirtualGateway, route: GatewayRoute) -> None:
    mappings = [listener.port_mapping for listener in gateway.spec.listeners]
    if not any(route.serves(m) for m in mappings):
        port = route.spec.body.match.port
        raise _route_error(
            route,
            "match.port" if port is not None else "",
            f"no listener of virtual gateway {gateway.name!r} serves a {route.spec.protocol!r} "
            f"gateway route on that port (listeners: {[(m.port, m.protocol) for m in mappings]})",
            port or route.spec.protocol,
        )
    target_mapping(model, route)


def target_mapping(model, route: GatewayRoute) -> PortMapping | None:
    """The target virtual service's listener a gateway route sends to: `target.port`, or the
    service's only port; None while the service has no provider (nothing to route to yet)."""
    target = route.target
    name = target.virtual_service.virtual_service_name
    service = model.services.get(name)
    if service is None:
        raise _route_error(
            route,
            "action.target.virtualService.virtualServiceName",
            "no virtual service of that name in the mesh",
            name,
        )
    mappings = model.service_mappings(service)
    if not mappings:
        return None
    if target.port is not None:
        found = next((m for m in mappings if m.port == target.port), None)
        if found is None:
            raise _route_error(
                route,
                "action.target.port",
                f"virtual service {name!r} has no listener on that port "
                f"(ports: {[m.port for m in mappings]})",
                target.port,
            )
        return found
    if len(mappings) > 1:
        raise _route_error(
            route,
            "action.target",
            f"virtual service {name!r} answers on ports {[m.port for m in mappings]}: "
            "give action.target.port",
            name,
        )
    return mappings[0]
