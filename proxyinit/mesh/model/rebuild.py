"""A MeshModel after a few resources changed, validated where the change can matter.

`build_mesh` indexes and validates the whole mesh: at a thousand nodes that is most of a write's
cost, for a write that touched one resource. `rebuild_mesh` starts from the last valid model
(every rule held for it) and checks again only the rules that read a changed resource:

- a service's provider exists: the changed services, and those provided by a changed node or
  router;
- a node's listeners and backends: the changed nodes, and those with a backend whose service
  changed or whose provider (its listeners give the ports) changed;
- a route's references: the changed routes, those of a changed router and those targeting a
  changed node; a router's listeners against its routes: the changed routers and those with a
  changed route;
- gateways: all of them (few per mesh), as `build_mesh` does.

Who names a changed resource comes from the mesh's reverse references (refs.py), so the cost is
that of the change, not of the mesh.

Shapes whose normalisation spans resources (2018 preview routers, a changed mesh resource, a
gateway or gateway route written) are left to `build_mesh`: None says so. The result equals
`build_mesh` of the same resources (tests/api/test_store_incremental.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from proxyinit.mesh.model.gateway_check import validate_gateways
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.model.problems import check_in_mesh
from proxyinit.mesh.model.refs import MeshRefs
from proxyinit.mesh.model.resources import Mesh, Route, VirtualNode, VirtualRouter, VirtualService
from proxyinit.mesh.model.route_order import route_sort_key
from proxyinit.mesh.model.validate import (
    _validate_node_backends,
    _validate_node_listeners,
    _validate_provider,
    _validate_router,
    validate_route_refs,
)

# (kind, router, name): a resource to delete, as the store names it (router: a route's router)
Deleted = tuple[str, str, str]
_TABLES = {VirtualNode: "nodes", VirtualService: "services", VirtualRouter: "routers"}
_DELETABLE = {"VirtualNode": "nodes", "VirtualService": "services", "VirtualRouter": "routers"}


@dataclass(frozen=True)
class Rebuilt:
    """The new model, and the names of what changed (for `MeshRefs.update` once committed)."""

    model: MeshModel
    nodes: frozenset[str]
    services: frozenset[str]
    routes: frozenset[tuple[str, str]]


def rebuild_mesh(
    previous: MeshModel, refs: MeshRefs, mesh: Mesh, puts: Iterable, deletes: Iterable[Deleted]
) -> Rebuilt | None:
    """`previous` (whose reverse references are `refs`) with `puts` (models) written and
    `deletes` removed; ConfigError as `build_mesh` raises it; None when only `build_mesh` can
    tell (see the module doc)."""
    puts, deletes = list(puts), list(deletes)
    if not _can_rebuild(previous, mesh, puts, deletes):
        return None
    # name -> the resource written, None: deleted (a put after a delete of the same name wins)
    writes: dict[str, dict[str, object]] = {"nodes": {}, "services": {}, "routers": {}}
    routes = _Routes(previous.routes)
    changed_routes: set[tuple[str, str]] = set()
    for kind, router, name in deletes:
        if kind == "Route":
            routes.get(router).pop(name, None)
            changed_routes.add((router, name))
        else:
            writes[_DELETABLE[kind]][name] = None
    for res in puts:
        check_in_mesh(res, previous.name)
        if isinstance(res, Route):
            routes.get(res.virtual_router_name)[res.route_name] = res
            changed_routes.add((res.virtual_router_name, res.route_name))
        else:
            writes[_TABLES[type(res)]][res.name] = res
    # Only the tables written are copied: the others stay the previous model's mappings.
    tables = {name: _applied(getattr(previous, name), writes[name]) for name in writes}
    changed = {name: set(written) for name, written in writes.items()}
    ordered, touched = _ordered_routes(previous, routes, tables["routers"], changed_routes, changed)
    delta = {name: (getattr(previous, name), frozenset(writes[name])) for name in writes}
    delta["routes"] = (previous.routes, frozenset(touched))
    model = replace(previous, **tables, routes=ordered, delta=MappingProxyType(delta))
    _validate_changed(model, refs, routes, changed, changed_routes)
    return Rebuilt(
        model,
        frozenset(changed["nodes"]),
        frozenset(changed["services"]),
        frozenset(changed_routes),
    )


class _Routes:
    """Router -> {route name: route}, made for a router when first asked (a write touches few)."""

    def __init__(self, ordered: Mapping[str, tuple[Route, ...]]):
        self._ordered = ordered
        self._made: dict[str, dict[str, Route]] = {}

    def get(self, router: str) -> dict[str, Route]:
        made = self._made.get(router)
        if made is None:
            made = {r.route_name: r for r in self._ordered.get(router, ())}
            self._made[router] = made
        return made


def _can_rebuild(previous: MeshModel, mesh: Mesh, puts: list, deletes: list[Deleted]) -> bool:
    if not (previous.mesh is mesh or previous.mesh == mesh):
        return False
    if any(type(res) not in (*_TABLES, Route) for res in puts):
        return False  # gateways, gateway routes, the mesh itself
    if any(kind not in (*_DELETABLE, "Route") for kind, _, _ in deletes):
        return False
    routers = [*previous.routers.values(), *(r for r in puts if isinstance(r, VirtualRouter))]
    return not any(r.preview_service_names or not r.spec.listeners for r in routers)


def _applied(before: Mapping, written: dict[str, object]) -> Mapping:
    """`before` with `written` (None: deleted) applied: `before` itself when nothing was written
    (a diff of the models then skips the table), else a copy in build_mesh's (sorted) order."""
    if not written:
        return before
    table = dict(before)
    for name, res in written.items():
        if res is None:
            table.pop(name, None)
        else:
            table[name] = res
    if table.keys() == before.keys():
        return MappingProxyType(table)  # same names, same (sorted) order
    return MappingProxyType(dict(sorted(table.items())))


def _ordered_routes(previous, routes, routers, changed_routes, changed) -> tuple[Mapping, set]:
    """Router -> its routes in match order, as build_mesh orders them; re-sorted where changed.
    And the routers re-sorted (every router has an entry: those added or removed are among them)."""
    touched = {router for router, _ in changed_routes} | changed["routers"]
    if not touched:
        return previous.routes, touched
    out = {}
    for name in routers:
        if name in touched or name not in previous.routes:
            out[name] = tuple(sorted(routes.get(name).values(), key=route_sort_key))
        else:
            out[name] = previous.routes[name]
    return MappingProxyType(dict(sorted(out.items()))), touched


def _validate_changed(model: MeshModel, refs: MeshRefs, routes, changed, changed_routes) -> None:
    """Each rule that read a changed resource, in build_mesh's order (route refs first)."""
    nodes, routers = changed["nodes"], changed["routers"]
    check_routes = set(changed_routes)
    for node in nodes:
        check_routes |= refs.targeting.get(node, set())
    for router in routers:
        check_routes |= {(router, name) for name in routes.get(router)}
    for router_name, name in sorted(check_routes):
        route = routes.get(router_name).get(name)
        if route is not None:
            validate_route_refs(route, model.nodes, model.routers)
    services = set(changed["services"])
    for kind, names in (("node", nodes), ("router", routers)):
        for name in names:
            services |= refs.provides.get((kind, name), set())
    for name in sorted(services & model.services.keys()):
        _validate_provider(model, model.services[name])
    check_nodes = set(nodes)
    for service in services:
        check_nodes |= refs.backers.get(service, set())
    for name in sorted(check_nodes & model.nodes.keys()):
        _validate_node_listeners(model.nodes[name])
        _validate_node_backends(model, model.nodes[name])
    with_changed_routes = {router for router, _ in changed_routes}
    for name in sorted((routers | with_changed_routes) & model.routers.keys()):
        _validate_router(model, model.routers[name])
    validate_gateways(model)
