"""`mesh apply`: turn already-validated meshes (a mesh file) into store puts.

Create what is new, update (version + 1) what differs, leave what is equal untouched so
re-applying the same file is a no-op: no version bump, no push.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.model.meshfile import kind_of
from proxyinit.mesh.model.resources import Mesh
from proxyinit.store.base import Key, Record

# (key, spec, tags, the existing record or None) -> the record to put
NewRecord = Callable[[Key, dict, tuple, Record | None], Record]


def key_of(resource) -> Key:
    router = {"Route": "virtual_router_name", "GatewayRoute": "virtual_gateway_name"}.get(
        resource.KIND
    )
    router = getattr(resource, router) if router else ""
    return Key(resource.KIND, resource.mesh_name, router, resource.name)


def declared_meshes(items: list) -> set[str]:
    """Meshes a mesh file declares itself (a file may only name its mesh: parse_resources then
    builds it with App Mesh's defaults, which must not overwrite a stored mesh's spec)."""
    return {
        item.get("meshName") for item in items if isinstance(item, dict) and kind_of(item) is Mesh
    }


def plan_mesh_apply(
    records: Mapping[Key, Record],
    new_record: NewRecord,
    models: Mapping[str, MeshModel],
    declared: set[str] | None = None,
) -> tuple[list[Record], list[tuple[str, Key]]]:
    """The records to put for `models` against the stored `records`, and per resource what
    happens to it (created, updated, unchanged)."""
    puts: list[Record] = []
    outcome: list[tuple[str, Key]] = []
    for model in models.values():
        for resource in model.resources():
            key = key_of(resource)
            spec = resource.spec.to_api()
            existing = records.get(key)
            implicit = key.kind == "Mesh" and declared is not None and key.mesh not in declared
            if existing is not None and (existing.spec == spec or implicit):
                outcome.append(("unchanged", key))
                continue
            tags = (
                tuple((t.key, t.value or "") for t in resource.tags or ())
                if existing is None
                else ()
            )
            puts.append(new_record(key, spec, tags, existing))
            outcome.append(("updated" if existing else "created", key))
    return puts, outcome
