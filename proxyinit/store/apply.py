"""`mesh apply`: turn already-validated meshes (a mesh file) into store puts.

Create what is new, update (version + 1) what differs, leave what is equal untouched so
re-applying the same file is a no-op: no version bump, no push.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from proxyinit.store.base import Key, Record

if TYPE_CHECKING:
    from proxyinit.mesh.mesh_model import MeshModel
    from proxyinit.store.meshes import MeshStore


def key_of(resource) -> Key:
    router = resource.virtual_router_name if resource.KIND == "Route" else ""
    return Key(resource.KIND, resource.mesh_name, router, resource.name)


def declared_meshes(items: list) -> set[str]:
    """Meshes a mesh file declares itself (a file may only name its mesh: parse_resources then
    builds it with App Mesh's defaults, which must not overwrite a stored mesh's spec)."""
    from proxyinit.mesh.meshfile import kind_of
    from proxyinit.mesh.model import Mesh

    return {
        item.get("meshName") for item in items if isinstance(item, dict) and kind_of(item) is Mesh
    }


def plan_apply(
    store: MeshStore, models: Mapping[str, MeshModel], declared: set[str] | None = None
) -> tuple[list[Record], list[tuple[str, Key]]]:
    puts: list[Record] = []
    outcome: list[tuple[str, Key]] = []
    for model in models.values():
        for resource in model.resources():
            key = key_of(resource)
            spec = resource.spec.to_api()
            existing = store.records.get(key)
            implicit = key.kind == "Mesh" and declared is not None and key.mesh not in declared
            if existing is not None and (existing.spec == spec or implicit):
                outcome.append(("unchanged", key))
                continue
            tags = (
                tuple((t.key, t.value or "") for t in resource.tags or ())
                if existing is None
                else ()
            )
            puts.append(store.new_record(key, spec, tags, existing))
            outcome.append(("updated" if existing else "created", key))
    return puts, outcome
