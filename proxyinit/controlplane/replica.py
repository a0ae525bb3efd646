"""Follow the other replicas: serve what they write to the shared store to our own Envoys.

Each replica LISTENs (`Store.wait`, its own connection). On a notification, and every
`interval` seconds without one (a notification can be missed: a dropped LISTEN connection, a
restart of the database), it reads the writes numbered after the last one it saw
(store/replica.py `catch_up`), so a missed notification delays a change, never loses it.
Content-hash versions make a read that finds nothing new, or a change already served, a no-op.
"""

from __future__ import annotations

import asyncio
import logging

from proxyinit.controlplane.metrics import PlaneMetrics
from proxyinit.store.replica import catch_up

log = logging.getLogger(__name__)


async def follow(store, metrics: PlaneMetrics, interval: float = 1.0) -> None:
    """Run until cancelled; `store` is the plane's MeshStore on a shared store."""
    while True:
        if await asyncio.to_thread(store.store.wait, interval):
            metrics.replica_notifications.inc()
        try:
            touched = await catch_up(store)
        except Exception as err:  # the database is away: keep serving what we have, retry
            log.warning("cannot read other replicas' writes (retrying): %s", err)
            await asyncio.sleep(interval)
            continue
        if touched:
            metrics.replica_catch_ups.inc()
            log.info("served other replicas' writes to meshes %s", ", ".join(touched))
