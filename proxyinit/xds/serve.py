"""`proxyinit xds serve`: mesh source -> translation -> snapshots -> cache -> ADS server.

Seams:
- `MeshSource` (a Protocol) is where meshes come from. The mesh file is one implementation; a
  REST API or SQLite store plugs in by implementing the same two methods.
- `Translator` turns one MeshModel and one node id into `{type_url: [protos]}`; the default is
  the pure translator of proxyinit.mesh.
- `SnapshotPublisher` is the only writer of the cache. It is all-or-nothing: if any node of an
  edit fails to translate or to form a consistent snapshot, the whole edit is refused and the
  last good snapshots keep serving. Nodes whose content did not change are not woken.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from proxyinit.errors import ConfigError
from proxyinit.xds.cache import SnapshotCache
from proxyinit.xds.debug import DebugServer
from proxyinit.xds.endpoint import Endpoint
from proxyinit.xds.server import AggregatedDiscoveryService, StreamRegistry, start_server
from proxyinit.xds.snapshot import Snapshot
from proxyinit.xds.types import NodeId

if TYPE_CHECKING:
    from proxyinit.mesh.mesh_model import MeshModel

log = logging.getLogger(__name__)
RECENT_NS = 1_000_000_000  # a file modified less than this ago is hashed on every poll

Meshes = Mapping[str, "MeshModel"]
Translator = Callable[["MeshModel", NodeId], Mapping[str, list[Any]]]


class MeshSource(Protocol):
    """Where validated meshes come from.

    Contract: `load()` returns the current meshes ({mesh name: MeshModel}, each already
    validated) or raises ConfigError. `changes()` yields the meshes again each time they change
    *and* validate; an invalid change is reported by the source (one log line naming the problem)
    and never yielded. It ends only when the source is closed or the task is cancelled.
    """

    def load(self) -> Meshes: ...

    def changes(self) -> AsyncIterator[Meshes]: ...


class FileMeshSource:
    """A YAML/JSON mesh file, polled every `interval` seconds (stat, then content hash).

    Polling instead of inotify: no new dependency, works on every filesystem and through the
    rename-into-place that editors and `kubectl cp` do. The file is read and hashed only when its
    stat changes, so the default 10 ms poll costs ~100 stat calls a second and keeps the
    edit -> Envoy ACK latency near the 20 ms target (bench/xds_push.py).
    """

    def __init__(
        self,
        path: str | Path,
        interval: float = 0.01,
        loader: Callable[[Path], Meshes] | None = None,
    ):
        self.path = Path(path)
        self.interval = interval
        self._loader = loader
        self._stat: tuple[int, int, int] | None = None
        self._digest = ""

    def _load_file(self, path: Path) -> Meshes:
        if self._loader is not None:
            return self._loader(path)
        from proxyinit.mesh.meshfile import load_mesh_file

        return load_mesh_file(path)

    def load(self) -> Meshes:
        self._stat, self._digest = self._fingerprint()
        return self._load_file(self.path)

    def _fingerprint(self) -> tuple[tuple[int, int, int] | None, str]:
        from proxyinit.bounds import MAX_MESH_FILE_BYTES, read_regular

        try:  # bounded: no FIFO or endless file is read here (the loader then says why)
            stat, data = read_regular(self.path, MAX_MESH_FILE_BYTES)
        except (OSError, ConfigError):
            return None, ""
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size), hashlib.sha256(data).hexdigest()

    async def changes(self) -> AsyncIterator[Meshes]:
        while True:
            await asyncio.sleep(self.interval)
            # Off the event loop: a large (bounded) file takes seconds to validate, and the ADS
            # streams and the debug endpoint must be served meanwhile.
            meshes = await asyncio.to_thread(self.poll)
            if meshes is not None:
                yield meshes

    def poll(self) -> Meshes | None:
        """One poll: the new meshes if the file changed and validates, else None."""
        try:
            stat = os.stat(self.path)
            current = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except OSError:
            current = None
        # The kernel's mtime is coarse (a tick, not a nanosecond): a same-size edit in the tick
        # of our last read keeps the same stat. While the file is that fresh, hash it anyway.
        fresh = current is not None and time.time_ns() - current[1] < RECENT_NS
        if current == self._stat and not fresh:
            return None
        self._stat, digest = self._fingerprint()
        if digest == self._digest:
            return None  # touched or rewritten with the same bytes
        self._digest = digest
        try:
            return self._load_file(self.path)
        except ConfigError as err:
            log.error("mesh edit refused, the last good mesh keeps serving: %s", err)
        except Exception:  # a loader bug must not stop the watch: keep serving, say why
            log.exception("mesh edit refused (internal error), the last good mesh keeps serving")
        return None


def default_translator() -> Translator:
    from proxyinit.mesh.translate import translate_node

    return translate_node


class SnapshotPublisher:
    """Meshes -> one Snapshot per virtual node -> cache, all or nothing.

    A mesh whose MeshModel is the very object built last time is not translated again: the API
    store hands over new objects only for the mesh a write changed, so a write costs one mesh's
    nodes, not every node of every mesh. (A file edit re-reads everything, so everything is new.)
    """

    def __init__(self, cache: SnapshotCache, translate: Translator | None = None):
        self.cache = cache
        self._translate = translate
        self._built: dict[
            str, tuple[object, dict[str, Snapshot]]
        ] = {}  # mesh -> (model, snapshots)

    def build(self, meshes: Meshes) -> dict[str, Snapshot]:
        """Snapshots for every virtual node; ConfigError naming the node if any fails."""
        snapshots: dict[str, Snapshot] = {}
        for mesh_name, model in meshes.items():
            snapshots.update(self._build_mesh(mesh_name, model))
        return snapshots

    def _build_mesh(self, mesh_name: str, model: MeshModel) -> dict[str, Snapshot]:
        built = self._built.get(mesh_name)
        if built is not None and built[0] is model:
            return built[1]
        translate = self._translate or default_translator()
        snapshots: dict[str, Snapshot] = {}
        for node_name in model.nodes:
            node_id = NodeId(mesh_name, node_name)
            try:
                snapshots[str(node_id)] = Snapshot(translate(model, node_id))
            except ConfigError as err:
                raise ConfigError(f"virtual node {node_id}: {err}") from None
        self._built[mesh_name] = (model, snapshots)
        return snapshots

    def publish(self, meshes: Meshes) -> list[str]:
        """Build and publish; return the node ids whose config changed. Raises ConfigError."""
        changed = self.cache.replace_all(self.build(meshes))
        self._built = {
            name: built for name, built in self._built.items() if name in meshes
        }  # deleted meshes
        log.info(
            "mesh published: %d virtual node(s), %d changed",
            len(self.cache.node_ids()),
            len(changed),
        )
        return changed

    def try_publish(self, meshes: Meshes) -> list[str] | None:
        """`publish`, but a refused edit is logged and the last good snapshots stay."""
        try:
            return self.publish(meshes)
        except ConfigError as err:
            log.error("mesh edit refused, the last good mesh keeps serving: %s", err)
        except Exception:  # a translator bug must not stop the watch: keep serving, say why
            log.exception("mesh edit refused (internal error), the last good mesh keeps serving")
        return None


class ControlPlane:
    """The running pieces of `xds serve`, startable in-process (tests, benchmarks)."""

    def __init__(
        self,
        source: MeshSource,
        xds: Endpoint,
        debug: Endpoint | None = None,
        translate: Translator | None = None,
    ):
        self.source, self.xds, self.debug = source, xds, debug
        self.cache = SnapshotCache()
        self.registry = StreamRegistry()
        self.publisher = SnapshotPublisher(self.cache, translate)
        self.xds_port = 0
        self.debug_server: DebugServer | None = None
        self._grpc_server = None
        self._watch_task: asyncio.Task | None = None

    async def start(self) -> None:
        """Load and publish the initial mesh (ConfigError if bad), then start serving."""
        self.publisher.publish(self.source.load())
        service = AggregatedDiscoveryService(self.cache, self.registry)
        self._grpc_server, self.xds_port = await start_server(service, self.xds.grpc_target())
        if self.xds.is_unix:
            # Envoy runs as uid 1337, not as us: it needs write permission to connect(). This is
            # no wider than the TCP default, which every local user can reach on loopback.
            os.chmod(self.xds.unix_path, 0o666)
        log.info(
            "xds ADS server on %s",
            self.xds if self.xds.is_unix else f"{self.xds.host}:{self.xds_port}",
        )
        if self.debug is not None:
            self.debug_server = DebugServer(
                self.cache, self.registry, self.debug.host, self.debug.port
            )
            await self.debug_server.start()
        self._watch_task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        async for meshes in self.source.changes():
            self.publisher.try_publish(meshes)

    async def wait(self) -> None:
        if self._watch_task is not None:
            await self._watch_task

    async def stop(self, grace: float = 0.5) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
        if self.debug_server is not None:
            await self.debug_server.stop()
        if self._grpc_server is not None:
            await self._grpc_server.stop(grace)
            self._grpc_server = None

    async def __aenter__(self) -> ControlPlane:
        try:
            await self.start()
        except BaseException:
            await self.stop(0)
            raise
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop(0)
