"""What keeps a write's cost that of the change: the rebuild from the last model, and the worker.

`Rebuilder` holds each mesh's reverse references (mesh/model/refs.py) and rebuilds a would-be
model from the last committed one (mesh/model/rebuild.py); the references follow a write only
once it is committed, so a refused write changes nothing here either. `off_loop` runs a write's
CPU-heavy steps in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

from proxyinit.errors import ConfigError
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.model.rebuild import Rebuilt, rebuild_mesh
from proxyinit.mesh.model.refs import MeshRefs
from proxyinit.store.base import Key
from proxyinit.store.errors import Invalid

log = logging.getLogger(__name__)


class Rebuilder:
    """Per mesh: its references, and the rebuild prepared for the next commit (one per mesh:
    another replica's changes to several meshes are absorbed at once, store/replica.py)."""

    def __init__(self) -> None:
        self._refs: dict[str, MeshRefs] = {}
        self._pending: dict[str, tuple[MeshModel, Rebuilt]] = {}

    def rebuild(
        self, previous: MeshModel | None, puts: Iterable, deletes: Iterable[Key]
    ) -> MeshModel | None:
        """`previous` after the write, revalidated where it can matter; None: build it whole."""
        if previous is None:
            return None
        refs = self._refs.get(previous.name)
        if refs is None:  # once per mesh and process; then kept up to date by each commit
            refs = self._refs[previous.name] = MeshRefs.of(previous)
        deleted = [(k.kind, k.router, k.name) for k in deletes]
        try:
            rebuilt = rebuild_mesh(previous, refs, previous.mesh, puts, deleted)
        except ConfigError as err:
            raise Invalid(str(err)) from None
        if rebuilt is None:
            self._pending.pop(previous.name, None)
            return None
        self._pending[previous.name] = (previous, rebuilt)
        return rebuilt.model

    def follow(self, models: Mapping[str, MeshModel | None]) -> None:
        """The committed meshes: references follow a rebuilt one, are dropped for any other."""
        pending, self._pending = self._pending, {}
        for mesh, model in models.items():
            refs, mine = self._refs.get(mesh), pending.get(mesh)
            if refs is None or mine is None or mine[1].model is not model:
                self._refs.pop(mesh, None)  # built whole: taken again when next needed
                continue
            before, rebuilt = mine
            refs.update(before, model, rebuilt.nodes, rebuilt.services, rebuilt.routes)


async def off_loop(function: Callable, *args):
    """`function(*args)` in a worker thread. A cancelled caller still waits for it to finish:
    the caller's lock must cover the work (the next write must not prepare beside it)."""
    return await landed(asyncio.to_thread(function, *args))


async def landed(work):
    """Await `work` to its end even if the caller is cancelled meanwhile (a client hanging up);
    the caller then gets its cancellation, and a failure of the work is logged, not lost."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.wait([task])
            except asyncio.CancelledError:
                pass  # cancelled again: still finish first
        if not task.cancelled() and task.exception() is not None:
            log.error("work of a cancelled request failed: %s", task.exception())
        raise
