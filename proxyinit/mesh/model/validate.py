"""Whole-mesh validation: references resolve and nothing that Envoy would NACK gets through.

Per-resource shape rules (types, bounds, unions) are in the pydantic models; the rules here need
more than one resource, or knowledge of what Envoy accepts. Each failure is a ConfigError naming
the resource, the field path and the value (problems.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from proxyinit.contract import PROXY_PORTS
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.model.problems import resource_error
from proxyinit.mesh.model.resources import Route, VirtualNode, VirtualRouter
from proxyinit.mesh.model.route import GrpcRoute, HttpRoute

# Envoy compiles safe_regex with RE2 and refuses programs above this size (its runtime key
# re2.max_program_size.error_level defaults to 100): `a{1000}` is valid RE2 but NACKed.
ENVOY_MAX_REGEX_PROGRAM_SIZE = 100


def _route_error(route: Route, path: str, why: str, value) -> Exception:
    full = f"spec.{_camel(route.spec.kind)}" + (f".{path}" if path else "")
    return resource_error(
        "Route",
        route.route_name,
        route.mesh_name,
        full,
        f"{why} [virtual router {route.virtual_router_name!r}]",
        value,
    )


def _camel(kind: str) -> str:
    head, *rest = kind.split("_")
    return head + "".join(p.title() for p in rest)


# ------------------------------------------------------------------------------------- routes
def validate_route_refs(
    route: Route, nodes: Mapping[str, VirtualNode], routers: Mapping[str, VirtualRouter]
) -> None:
    """The route's router and targets exist, targets resolve to one listener of the right protocol."""
    if route.virtual_router_name not in routers:
        raise resource_error(
            "Route",
            route.route_name,
            route.mesh_name,
            "virtualRouterName",
            "no virtual router of that name in the mesh",
            route.virtual_router_name,
        )
    seen: set[tuple[str, int]] = set()
    for index, target in enumerate(route.spec.body.action.weighted_targets):
        path = f"action.weightedTargets[{index}]"
        node = nodes.get(target.virtual_node)
        if node is None:
            raise _route_error(
                route,
                f"{path}.virtualNode",
                "no virtual node of that name in the mesh",
                target.virtual_node,
            )
        mapping = node.target_mapping(target)
        if mapping is None:
            ports = [listener.port_mapping.port for listener in node.spec.listeners]
            why = (
                f"virtual node {node.name!r} has no listener on that port (listeners: {ports})"
                if target.port is not None
                else f"virtual node {node.name!r} has {len(ports)} listeners {ports}: give exactly one with weightedTargets[].port"
            )
            raise _route_error(
                route,
                f"{path}.port" if target.port is not None else f"{path}.virtualNode",
                why,
                target.port if target.port is not None else target.virtual_node,
            )
        if mapping.protocol != route.spec.protocol:
            raise _route_error(
                route,
                f"{path}.virtualNode",
                f"target listener {mapping.port} is {mapping.protocol!r} but the route is {route.spec.protocol!r}",
                target.virtual_node,
            )
        if (node.name, mapping.port) in seen:
            raise _route_error(
                route,
                f"{path}.virtualNode",
                f"targets {node.name!r} port {mapping.port} twice",
                target.virtual_node,
            )
        seen.add((node.name, mapping.port))
    _validate_weights(route)
    _validate_regexes(route)


def _validate_weights(route: Route) -> None:
    targets = route.spec.body.action.weighted_targets
    if route.spec.protocol == "tcp":
        # Envoy's TcpProxy.WeightedCluster.ClusterWeight.weight is `uint32 {gte: 1}`: a 0 is a NACK.
        for index, target in enumerate(targets):
            if target.weight == 0:
                raise _route_error(
                    route,
                    f"action.weightedTargets[{index}].weight",
                    "a tcp route target needs a weight of at least 1",
                    0,
                )
    elif sum(t.weight for t in targets) == 0:
        # Envoy refuses weighted_clusters whose weights sum to 0.
        raise _route_error(
            route,
            "action.weightedTargets",
            "the weights sum to 0: at least one must be above 0",
            [t.weight for t in targets],
        )


def _check_regex(route: Route, path: str, pattern: str) -> None:
    """Compile with RE2 itself, as Envoy does: Python's `re` accepts many things RE2 refuses."""
    import re2  # google-re2: only meshes with regex matches pay for it

    options = re2.Options()
    options.log_errors = False
    try:
        size = re2.compile(pattern, options).programsize
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise _route_error(
            route, path, f"not a valid RE2 regular expression ({reason})", pattern
        ) from None
    if size > ENVOY_MAX_REGEX_PROGRAM_SIZE:
        raise _route_error(
            route,
            path,
            f"too complex for Envoy: RE2 program size {size} > {ENVOY_MAX_REGEX_PROGRAM_SIZE}",
            pattern,
        )


def _validate_regexes(route: Route) -> None:
    body = route.spec.body
    if isinstance(body, HttpRoute):
        if body.match.path is not None and body.match.path.regex is not None:
            _check_regex(route, "match.path.regex", body.match.path.regex)
        headers = [("headers", h) for h in body.match.headers or ()]
    elif isinstance(body, GrpcRoute):
        headers = [("metadata", m) for m in body.match.metadata or ()]
    else:
        return
    for index, (field, header) in enumerate(headers):
        if header.match is not None and header.match.regex is not None:
            _check_regex(route, f"match.{field}[{index}].match.regex", header.match.regex)


# ------------------------------------------------------------------------------- whole mesh
def validate_mesh(model: MeshModel) -> None:
    for service in model.services.values():
        _validate_provider(model, service)
    for node in model.nodes.values():
        _validate_node_listeners(node)
        _validate_node_backends(model, node)
    for router in model.routers.values():
        _validate_router(model, router)


def _validate_provider(model: MeshModel, service) -> None:
    provider = service.spec.provider
    if provider is None:
        return
    if (
        provider.virtual_node is not None
        and provider.virtual_node.virtual_node_name not in model.nodes
    ):
        raise resource_error(
            "VirtualService",
            service.name,
            model.name,
            "spec.provider.virtualNode.virtualNodeName",
            "no virtual node of that name in the mesh",
            provider.virtual_node.virtual_node_name,
        )
    if (
        provider.virtual_router is not None
        and provider.virtual_router.virtual_router_name not in model.routers
    ):
        raise resource_error(
            "VirtualService",
            service.name,
            model.name,
            "spec.provider.virtualRouter.virtualRouterName",
            "no virtual router of that name in the mesh",
            provider.virtual_router.virtual_router_name,
        )


def _check_ports(kind: str, name: str, mesh: str, listeners) -> None:
    seen: set[int] = set()
    for index, listener in enumerate(listeners):
        port = listener.port_mapping.port
        path = f"spec.listeners[{index}].portMapping.port"
        if port in PROXY_PORTS:
            raise resource_error(
                kind, name, mesh, path, f"ports {list(PROXY_PORTS)} are the proxy's own", port
            )
        if port in seen:
            raise resource_error(kind, name, mesh, path, "two listeners on the same port", port)
        seen.add(port)


def _validate_node_listeners(node: VirtualNode) -> None:
    _check_ports("VirtualNode", node.name, node.mesh_name, node.spec.listeners)


def node_backend_names(node: VirtualNode) -> list[str]:
    return [backend.virtual_service.virtual_service_name for backend in node.spec.backends]


def _validate_node_backends(model: MeshModel, node: VirtualNode) -> None:
    by_port: dict[int, list[tuple[str, str]]] = defaultdict(list)
    seen: set[str] = set()
    for index, backend in enumerate(node.spec.backends):
        name = backend.virtual_service.virtual_service_name
        path = f"spec.backends[{index}].virtualService.virtualServiceName"
        if name.lower() in seen:
            # Envoy compares virtual host domains case-insensitively and refuses duplicates.
            why = (
                "backend listed twice"
                if name in node_backend_names(node)[:index]
                else "backend differs from another only in case"
            )
            raise resource_error("VirtualNode", node.name, model.name, path, why, name)
        seen.add(name.lower())
        service = model.services.get(name)
        if service is None:
            # App Mesh does not require a backend's virtual service to exist (nodes and services
            # would otherwise depend on each other at creation): it is routed once it exists.
            continue
        mappings = model.service_mappings(service)
        if not mappings:
            # No provider yet (App Mesh makes it optional), or a provider without a listener:
            # nothing to route to, so like a missing service its traffic follows the egress filter.
            continue
        for mapping in mappings:
            if mapping.port in PROXY_PORTS:
                raise resource_error(
                    "VirtualNode",
                    node.name,
                    model.name,
                    path,
                    f"the service answers on the proxy's own port {mapping.port}",
                    name,
                )
            by_port[mapping.port].append((name, mapping.protocol))
    _check_egress_ports(node, by_port)


def _check_egress_ports(node: VirtualNode, by_port: Mapping[int, list[tuple[str, str]]]) -> None:
    # Egress traffic is told apart by destination port only (the original destination IP is a
    # DNS answer we cannot know), so a tcp backend needs its port to itself; http-family
    # backends can share a port because they are told apart by Host header.
    for port, users in sorted(by_port.items()):
        protocols = {protocol for _, protocol in users}
        if "tcp" in protocols and len(users) > 1:
            raise resource_error(
                "VirtualNode",
                node.name,
                node.mesh_name,
                "spec.backends",
                f"port {port} is used by a tcp backend and another backend; a tcp backend needs its own port",
                sorted(name for name, _ in users),
            )


def _validate_router(model: MeshModel, router: VirtualRouter) -> None:
    _check_ports("VirtualRouter", router.name, model.name, router.spec.listeners)
    routes = model.routes.get(router.name, ())
    mappings = [listener.port_mapping for listener in router.spec.listeners]
    for route in routes:
        if not any(route.serves(m) for m in mappings):
            where = "match.port" if route.spec.match_port is not None else ""
            raise _route_error(
                route,
                where,
                f"no listener of virtual router {router.name!r} serves a "
                f"{route.spec.protocol!r} route on that port (listeners: {[(m.port, m.protocol) for m in mappings]})",
                route.spec.match_port or route.spec.protocol,
            )
    for listener in router.spec.listeners:
        if listener.port_mapping.protocol == "tcp":
            served = [route for route in routes if route.serves(listener.port_mapping)]
            if len(served) > 1:
                raise resource_error(
                    "VirtualRouter",
                    router.name,
                    model.name,
                    "spec.listeners",
                    f"tcp listener {listener.port_mapping.port} has {len(served)} tcp routes; "
                    "a tcp connection has nothing to match on, give one",
                    [r.route_name for r in served],
                )
