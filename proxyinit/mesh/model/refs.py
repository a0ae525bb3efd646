"""Reverse references of one mesh: who names a resource, so a write finds what it affects.

`rebuild_mesh` revalidates the resources that read a changed one; these maps answer "which
nodes have service S as a backend", "which services does node or router X provide", "which
routes target node N" without a scan of the mesh. Built once from a model (O(mesh)), then kept
up to date for the resources each committed write changed (O(change)).
"""

from __future__ import annotations

from collections.abc import Iterable

from proxyinit.mesh.model.mesh import MeshModel


class MeshRefs:
    def __init__(self) -> None:
        self.backers: dict[str, set[str]] = {}  # service -> nodes with it as a backend
        self.provides: dict[tuple[str, str], set[str]] = {}  # ("node"|"router", name) -> services
        self.targeting: dict[str, set[tuple[str, str]]] = {}  # node -> (router, route) targeting it

    @classmethod
    def of(cls, model: MeshModel) -> MeshRefs:
        refs = cls()
        for node in model.nodes.values():
            refs._node(node, add=True)
        for service in model.services.values():
            refs._service(service, add=True)
        for routes in model.routes.values():
            for route in routes:
                refs._route(route, add=True)
        return refs

    def update(
        self,
        before: MeshModel,
        after: MeshModel,
        nodes: Iterable[str],
        services: Iterable[str],
        routes: Iterable[tuple[str, str]],
    ) -> None:
        """Follow the named resources from `before` to `after` (either may lack them)."""
        for name in nodes:
            self._node(before.nodes.get(name), add=False)
            self._node(after.nodes.get(name), add=True)
        for name in services:
            self._service(before.services.get(name), add=False)
            self._service(after.services.get(name), add=True)
        for router, name in routes:
            self._route(_route_of(before, router, name), add=False)
            self._route(_route_of(after, router, name), add=True)

    def _node(self, node, add: bool) -> None:
        if node is not None:
            for backend in node.spec.backends:
                _mark(self.backers, backend.virtual_service.virtual_service_name, node.name, add)

    def _service(self, service, add: bool) -> None:
        provider = None if service is None else service.spec.provider
        if provider is None:
            return
        if provider.virtual_node is not None:
            key = ("node", provider.virtual_node.virtual_node_name)
        else:
            key = ("router", provider.virtual_router.virtual_router_name)
        _mark(self.provides, key, service.name, add)

    def _route(self, route, add: bool) -> None:
        if route is not None:
            where = (route.virtual_router_name, route.route_name)
            for target in route.spec.body.action.weighted_targets:
                _mark(self.targeting, target.virtual_node, where, add)


def _route_of(model: MeshModel, router: str, name: str):
    return next((r for r in model.routes.get(router, ()) if r.route_name == name), None)


def _mark(table: dict, key, value, add: bool) -> None:
    if add:
        table.setdefault(key, set()).add(value)
        return
    values = table.get(key)
    if values is not None:
        values.discard(value)
        if not values:
            del table[key]
