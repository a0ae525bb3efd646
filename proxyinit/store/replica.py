"""Replicas: what other writers of a shared store committed, applied to this MeshStore.

Several `xds serve` replicas on one PostgreSQL database each hold every record in memory and
serve reads and Envoys from it. Before a write validates, `MeshStore` takes the store's write
lock (`Store.begin`, across processes) and `absorb`s the changes it returns, so the write is
validated against the latest committed state: versions increment exactly once, clientTokens are
seen whichever replica took the first request, and two replicas updating one resource apply in
sequence (version 2, then 3), never one over the other. Between writes, `catch_up` (driven by
controlplane/replica.py on each NOTIFY, and periodically for a missed one) does the same under
this process's write lock only, and republishes the meshes that changed to this replica's Envoys.
"""

from __future__ import annotations

import asyncio
import logging

from proxyinit.errors import ConfigError
from proxyinit.store.base import Changes
from proxyinit.store.incremental import off_loop

log = logging.getLogger(__name__)


async def absorb(store, changes: Changes) -> list[str]:
    """Apply committed changes to a MeshStore's memory (the caller holds its write_lock) and
    serve them; returns the meshes they touched. Validation and translation run in the worker
    thread, as a local write's do. (Untyped: meshes.py imports this module.)"""
    touched = _take_records(store, changes)
    if touched:
        models, prepared = await off_loop(_prepare, store, touched)
        _serve(store, models, prepared)
    return touched


def _take_records(store, changes: Changes) -> list[str]:
    for version in changes.versions:  # a retry of any of them on this replica: same answer
        store._tokens.remember(version.key, version.client_token, version.request_digest, version)
    for key in changes.deletes:
        store.records.pop(key, None)
        store._parsed.pop(key, None)
    for record in changes.puts:
        store.records[record.key] = record
        # A retry of this write on this replica must get the same answer (RecentTokens).
        store._tokens.remember(record.key, record.client_token, record.request_digest, record)
    return sorted({k.mesh for k in changes.deletes} | {r.key.mesh for r in changes.puts})


def _prepare(store, touched: list[str]) -> tuple[dict, object]:
    """In the worker thread: the touched meshes validated whole, and what serves them."""
    models = {}
    for mesh in touched:
        try:
            models[mesh] = store._validate(mesh, store._would_be(mesh, [], []))
        except ConfigError as err:  # another replica's code validates differently: keep serving
            log.error("mesh %r as another replica stored it does not validate here: %s", mesh, err)
    try:
        return models, store.pipeline.prepare(models)
    except ConfigError as err:
        log.error("meshes %s changed by another replica cannot be served here: %s", touched, err)
        return models, None


def _serve(store, models: dict, prepared: object) -> None:
    store._rebuilder.follow(models)  # built whole: their reverse references are taken afresh
    for mesh, model in models.items():
        if model is None:
            store.meshes.pop(mesh, None)
        else:
            store.meshes[mesh] = model
    if prepared is not None:
        store.pipeline.publish(prepared)


async def catch_up(store) -> list[str]:
    """Read what other replicas committed since we last looked, and serve it."""
    async with store.write_lock:
        changes = await asyncio.to_thread(store.store.changes)
        return await absorb(store, changes)
