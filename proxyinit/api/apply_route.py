"""`POST /proxyinit/v1/apply`: a mesh file's resources into the store, in one transaction.

Not an App Mesh operation: it is what `proxyinit mesh apply -f FILE --endpoint-url URL` calls, so
a running control plane validates, stores and pushes a whole file at once (ordering and
cross-references inside the file are resolved together, as `xds serve --mesh-file` does).
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, FastAPI

from proxyinit.store.base import PARENT
from proxyinit.store.meshes import MeshStore


def outcome_json(outcome) -> list[dict]:
    return [
        {
            "result": result,
            "kind": key.kind,
            "meshName": key.mesh,
            "name": key.name,
            **({PARENT[key.kind][1]: key.router} if key.kind in PARENT else {}),
        }
        for result, key in outcome
    ]


def add_apply(app: FastAPI, store: MeshStore) -> None:
    async def apply(resources: Any = Body()):
        from proxyinit.mesh.model.meshfile import parse_resources
        from proxyinit.store.apply import declared_meshes

        models = parse_resources(resources)
        outcome = await store.apply(models, declared_meshes(resources))
        return {"resources": outcome_json(outcome)}

    app.add_api_route(
        "/proxyinit/v1/apply",
        apply,
        methods=["POST"],
        name="ApplyMeshFile",
        operation_id="ApplyMeshFile",
    )
