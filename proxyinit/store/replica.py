"""Replicas: what other writers of a shared store committed, applied to this MeshStore.

Several `xds serve` replicas on one PostgreSQL database each hold every record in memory and
serve reads and Envoys from it. Before a write validates, `MeshStore` takes the store's write
lock (`Store.begin`, across processes) and `absorb`s the changes it returns, so the write is
validated against the latest committed state: versions increment exactly once, clientTokens are
seen whichever replica took the first request, and two replicas updating one resource apply in
sequence (version 2, then 3), never one over the other. Between writes, `catch_up` (driven by
controlplane/replica.py on each NOTIFY, and periodically for a missed one) does the same under
this process's write lock only, and republishes the meshes that changed to this replica's Envoys.

Absorbing costs what the change does, as a local write: each touched mesh is rebuilt from its
last model (mesh/model/rebuild.py) and only the nodes that read a changed resource are
translated again (controlplane/incremental.py). A mesh created, deleted or changed itself, shapes
only `build_mesh` can tell, and more than `WHOLE_AFTER` changes to one mesh at once are built
whole (tests/api/test_store_replicas_incremental.py compares the two).
"""

from __future__ import annotations

import asyncio
import logging

from proxyinit.errors import ConfigError
from proxyinit.store.base import Changes
from proxyinit.store.incremental import off_loop

log = logging.getLogger(__name__)

# More changes than this to one mesh at once (another replica's `mesh apply` of a file, or a long
# gap caught up) build it whole, as a local apply does: the rebuild's checks grow with the change
# and past a few dozen resources it saves little, while the whole build is the reference.
WHOLE_AFTER = 64


async def absorb(store, changes: Changes) -> list[str]:
    """Apply committed changes to a MeshStore's memory (the caller holds its write_lock) and
    serve them; returns the meshes they touched. Validation and translation run in the worker
    thread, and from the last model where they can, as a local write's do. (Untyped: meshes.py
    imports this module.)"""
    touched = _take_records(store, changes)
    if touched:
        models, failed, prepared = await off_loop(_prepare, store, touched)
        _serve(store, models, failed, prepared)
    return sorted(touched)


def _take_records(store, changes: Changes) -> dict[str, tuple[list, list]]:
    """The changes into the store's records; per touched mesh, (records put, keys deleted)."""
    for version in changes.versions:  # a retry of any of them on this replica: same answer
        store._tokens.remember(version.key, version.client_token, version.request_digest, version)
    touched: dict[str, tuple[list, list]] = {}
    for key in changes.deletes:
        store.records.pop(key, None)
        store._parsed.pop(key, None)
        touched.setdefault(key.mesh, ([], []))[1].append(key)
    for record in changes.puts:
        store.records[record.key] = record
        # A retry of this write on this replica must get the same answer (RecentTokens).
        store._tokens.remember(record.key, record.client_token, record.request_digest, record)
        touched.setdefault(record.key.mesh, ([], []))[0].append(record)
    return touched


def _prepare(store, touched: dict[str, tuple[list, list]]) -> tuple[dict, list[str], object]:
    """In the worker thread: the touched meshes validated (from their last model where the
    change allows, store/incremental.py), and what serves them; the meshes that do not validate."""
    models, failed = {}, []
    for mesh, (puts, deletes) in sorted(touched.items()):
        try:
            models[mesh] = _rebuilt(store, mesh, puts, deletes)
        except ConfigError as err:  # another replica's code validates differently: keep serving
            log.error("mesh %r as another replica stored it does not validate here: %s", mesh, err)
            failed.append(mesh)
    try:
        return models, failed, store.pipeline.prepare(models)
    except ConfigError as err:
        log.error(
            "meshes %s changed by another replica cannot be served here: %s", list(models), err
        )
        return models, failed, None


def _rebuilt(store, mesh: str, puts: list, deletes: list):
    """The mesh after another replica's changes: rebuilt from its last model, as a local write
    is, unless only a whole build can tell (model/rebuild.py: a mesh created, changed or
    deleted, a gateway written...) or the change is large (WHOLE_AFTER)."""
    keys = [*deletes, *(r.key for r in puts)]
    if store.incremental and len(keys) <= WHOLE_AFTER and all(k.kind != "Mesh" for k in keys):
        model = store._rebuilder.rebuild(
            store.meshes.get(mesh), [store._model(r) for r in puts], deletes
        )
        if model is not None:
            return model
    return store._validate(mesh, store._would_be(mesh, [], []))


def _serve(store, models: dict, failed: list[str], prepared: object) -> None:
    store._rebuilder.follow(models)  # references follow a rebuilt mesh, are retaken otherwise
    for mesh, model in models.items():
        if model is None:
            store.meshes.pop(mesh, None)
        else:
            store.meshes[mesh] = model
    for mesh in failed:
        # Its records moved on: the next write, local or not, must build it whole, not from
        # this stale model. The publisher keeps serving the last good one meanwhile.
        store.meshes.pop(mesh, None)
    if prepared is not None:
        store.pipeline.publish(prepared)


async def catch_up(store) -> list[str]:
    """Read what other replicas committed since we last looked, and serve it."""
    async with store.write_lock:
        changes = await asyncio.to_thread(store.store.changes)
        return await absorb(store, changes)
