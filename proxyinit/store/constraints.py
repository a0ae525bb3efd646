"""App Mesh's parent and delete rules, as the API Reference lists them (and only those).

A resource needs its mesh (and a route its router, a gateway route its gateway). A mesh cannot
be deleted while it holds any resource, a router while it has routes, a node or router while a
virtual service names it as provider, a gateway while it has gateway routes, a virtual service
while a gateway route targets it. A node's backends hold nothing: they may name a service that
does not exist. Everything else a delete would break is refused by validating the would-be mesh.
"""

from __future__ import annotations

from collections.abc import Mapping

from proxyinit.store.base import PARENT, Key, Record
from proxyinit.store.errors import InUse, NotFound
from proxyinit.store.gateway_refs import check_gateway_routes
from proxyinit.store.records import describe


def check_parents(records: Mapping[Key, Record], key: Key) -> None:
    parents = [] if key.kind == "Mesh" else [Key("Mesh", key.mesh, "", key.mesh)]
    if key.kind in PARENT:
        parents.append(Key(PARENT[key.kind][0], key.mesh, "", key.router))
    for parent in parents:
        if parent not in records:
            raise NotFound(f"{describe(parent)} does not exist")


def check_unused(records: Mapping[Key, Record], key: Key) -> None:
    if key.kind == "Mesh":
        kids = sorted(
            f"{k.kind} {k.name!r}" for k in records if k.mesh == key.mesh and k.kind != "Mesh"
        )
        if kids:
            raise InUse(
                f"mesh {key.mesh!r} still has {len(kids)} resource(s): {', '.join(kids[:5])}; delete them first"
            )
    if key.kind == "VirtualRouter":
        routes = sorted(
            k.name
            for k in records
            if k.kind == "Route" and k.mesh == key.mesh and k.router == key.name
        )
        if routes:
            raise InUse(f"virtual router {key.name!r} still has routes {routes}; delete them first")
    if key.kind in ("VirtualGateway", "VirtualService"):
        check_gateway_routes(records, key, describe(key))
    if key.kind in ("VirtualNode", "VirtualRouter"):
        # The API Reference's constraints, and only those: a node or router a virtual service
        # names as provider is in use (a route targeting a node fails validation below). A
        # node's backends do not hold a service: they may name one that does not exist.
        services = _provided_by(records, key)
        if services:
            raise InUse(
                f"{describe(key)} is the provider of virtual service(s) {services}; "
                "update or delete them first"
            )


def _provided_by(records: Mapping[Key, Record], key: Key) -> list[str]:
    member = "virtualNode" if key.kind == "VirtualNode" else "virtualRouter"
    return sorted(
        k.name
        for k, r in records.items()
        if k.kind == "VirtualService"
        and k.mesh == key.mesh
        and ((r.spec.get("provider") or {}).get(member) or {}).get(f"{member}Name") == key.name
    )
