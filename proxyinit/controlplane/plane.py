"""`ControlPlane`: ADS server, debug endpoint and one mesh source, started and stopped as one.

Two modes, one wiring:
- mesh file: the file is loaded and published whole, then watched; each valid edit is
  published again (an invalid one is logged and the last good mesh keeps serving);
- store: the store of the App Mesh API (a SQLite file, or PostgreSQL shared by replicas, each
  following the others' writes: controlplane/replica.py) is the source, and the API (if given
  an address) serves on the same event loop, so a write's push to Envoy needs no cross-thread
  hand-off.
  The store's writes go validate -> prepare (this publisher translates) -> commit -> publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterable

from envoy.config.core.v3 import base_pb2 as core_pb2

from proxyinit.contract import NodeId
from proxyinit.controlplane.certs import CertificateDirectory
from proxyinit.controlplane.cloudmap import CloudMapDiscovery, boto3_client
from proxyinit.controlplane.heap import HeapKeeper
from proxyinit.controlplane.limits import ServeLimits
from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.controlplane.metrics import PlaneMetrics, TimedPublisher, TimedStore, XdsMetrics
from proxyinit.controlplane.publisher import Translator
from proxyinit.controlplane.xds_auth import NodeAuthorizer, XdsAuthSettings, server_credentials
from proxyinit.errors import ConfigError
from proxyinit.mesh.translate.node import translate_node
from proxyinit.store.backends import is_shared, open_backend
from proxyinit.xds.cache import SnapshotCache
from proxyinit.xds.debug import DebugServer
from proxyinit.xds.endpoint import Endpoint
from proxyinit.xds.server import (
    AggregatedDiscoveryService,
    Callbacks,
    StreamRegistry,
    start_server,
)

log = logging.getLogger(__name__)


def app_mesh_node_key(node: core_pb2.Node) -> str:
    """The ADS server's node key: App Mesh's `mesh/<mesh>/virtualNode/<node>` or
    `mesh/<mesh>/virtualGateway/<gateway>`, nothing else."""
    try:
        return str(NodeId.parse(node.id))
    except ConfigError as err:
        raise ValueError(str(err)) from None


class ControlPlane:
    """Give exactly one of `mesh_file` (a FileMeshSource) or `db` (a store path or a
    postgresql:// URL, shared with other replicas)."""

    def __init__(
        self,
        xds: Endpoint,
        *,
        mesh_file: FileMeshSource | None = None,
        db: str | None = None,
        api: Endpoint | None = None,
        api_keys: dict[str, str] | None = None,
        region: str | None = None,
        debug: Endpoint | None = None,
        translate: Translator = translate_node,
        callbacks: Iterable[Callbacks] = (),
        certs: str | None = None,
        metrics: Endpoint | None = None,
        cloud_map_interval: float = 10.0,
        cloud_map_client: Callable[[], object] = boto3_client,
        xds_auth: XdsAuthSettings | None = None,
        limits: ServeLimits | None = None,
    ):
        if (mesh_file is None) == (db is None):
            raise ValueError("ControlPlane takes a mesh_file or a db, exactly one")
        self.xds, self.debug, self.api_endpoint, self.api_keys = xds, debug, api, api_keys
        self.region = region  # None: the region each client signs for (see api.app)
        self.source, self.db = mesh_file, db
        self.limits = limits or ServeLimits()  # connections, keepalive (limits.py)
        self.cache = SnapshotCache()
        self.registry = StreamRegistry()
        # `--certs DIR`: PEMs for sds secret names and ACM ARNs, served over SDS (certs.py).
        self.certificates = None if certs is None else CertificateDirectory(certs)
        self._certs_task: asyncio.Task | None = None
        # awsCloudMap nodes: translation sees what Cloud Map last answered (controlplane/cloudmap.py)
        # `cloud_map_client`: what the refresher asks instead of AWS (bench.feature_push's answers).
        self.cloud_map = CloudMapDiscovery(cloud_map_interval, cloud_map_client)
        # Always measured (a registry of this plane's own); served only with `metrics`.
        self.metrics, self.metrics_endpoint = PlaneMetrics(), metrics
        self.metrics_server = None
        self.publisher = TimedPublisher(
            self.cache, self.cloud_map.translator(translate), self.metrics, self.certificates
        )
        # Who may ask for which node (controlplane/xds_auth.py); None: anyone, for any node.
        self.xds_auth = xds_auth or XdsAuthSettings()
        self._xds_credentials = server_credentials(self.xds_auth)  # bad PEMs: ConfigError now
        self.publisher.on_published = HeapKeeper().after_publish
        self.ads = AggregatedDiscoveryService(
            self.cache,
            [self.registry, XdsMetrics(self.metrics), *callbacks],
            node_key=app_mesh_node_key,
            authorize=NodeAuthorizer(self.xds_auth) if self.xds_auth.authenticates else None,
        )
        self.store = None
        self.api = None
        self.xds_port = 0
        self.debug_server: DebugServer | None = None
        self._grpc_server = None
        self._watch_task: asyncio.Task | None = None
        self._cloud_map_task: asyncio.Task | None = None
        self._replica_task: asyncio.Task | None = None

    async def start(self) -> None:
        """Load and publish the initial meshes (ConfigError if bad), then start serving."""
        if self.source is not None:
            self.publisher.replace(self.source.load())
        else:
            self._open_store()
        self._grpc_server, self.xds_port = await start_server(
            self.ads,
            self.xds.grpc_target(),
            options=self.limits.grpc_options(),
            max_streams=self.limits.xds_max_streams,
            credentials=self._xds_credentials,
        )
        if self.xds.is_unix:
            # Envoy runs as uid 1337, not as us: it needs write permission to connect(). This is
            # no wider than the TCP default, which every local user can reach on loopback.
            os.chmod(self.xds.unix_path, 0o666)
        log.info("xds ADS server on %s", self.xds if self.xds.is_unix else f"port {self.xds_port}")
        if self.debug is not None:
            self.debug_server = DebugServer(
                self.cache,
                self.registry,
                self.debug.host,
                self.debug.port,
                problems=self.publisher.problems,
                sections={"cloudMap": self.cloud_map.status},
                limits=self.limits.http,
            )
            await self.debug_server.start()
        if self.metrics_endpoint is not None:
            await self._start_metrics()
        if self.store is not None and self.api_endpoint is not None:
            await self._start_api()
        if self.store is not None and is_shared(self.db):
            from proxyinit.controlplane.replica import follow

            self._replica_task = asyncio.create_task(follow(self.store, self.metrics))
        if self.source is not None:
            self._watch_task = asyncio.create_task(self._watch())
        if self.certificates is not None:
            self._certs_task = asyncio.create_task(self._watch_certs())
        self._cloud_map_task = asyncio.create_task(
            self.cloud_map.run(self._cloud_map_queries, self._republish_cloud_map)
        )

    def _open_store(self) -> None:
        from proxyinit.store.meshes import MeshStore

        region = {"region": self.region} if self.region else {}
        store = TimedStore(open_backend(self.db), self.metrics)
        self.store = MeshStore(store, pipeline=self.publisher, **region)
        for name, model in sorted(self.store.meshes.items()):
            try:
                self.publisher.publish(self.publisher.prepare({name: model}))
            except ConfigError as err:  # e.g. a translation change after an upgrade: serve the rest
                log.error("stored mesh %r cannot be served (fix it through the API): %s", name, err)

    async def _start_api(self) -> None:
        from proxyinit.api.app import create_app
        from proxyinit.api.server import ApiServer
        from proxyinit.controlplane.metrics_http import instrument_api

        endpoint = self.api_endpoint
        app = instrument_api(create_app(self.store, self.api_keys, self.region), self.metrics)
        self.api = ApiServer(app, endpoint.host, endpoint.port, self.limits.http)
        await self.api.start()

    async def _start_metrics(self) -> None:
        from proxyinit.controlplane.metrics_http import MetricsServer

        endpoint = self.metrics_endpoint
        self.metrics_server = MetricsServer(
            self.metrics.registry, endpoint.host, endpoint.port, self.limits.http
        )
        await self.metrics_server.start()

    async def _watch(self) -> None:
        async for meshes in self.source.changes():
            try:
                self.publisher.replace(meshes)
            except ConfigError as err:
                log.error("mesh edit refused, the last good mesh keeps serving: %s", err)
            except Exception:  # a translator bug must not stop the watch: keep serving, say why
                log.exception(
                    "mesh edit refused (internal error), the last good mesh keeps serving"
                )

    async def _watch_certs(self) -> None:
        # A PEM added or rotated in --certs reaches the nodes naming it without a mesh change.
        interval = self.source.interval if self.source is not None else 1.0
        async for _ in self.certificates.changes(max(interval, 0.05)):
            # Under the store's write lock: a write prepares in a worker thread meanwhile.
            lock = self.store.write_lock if self.store is not None else contextlib.nullcontext()
            try:
                async with lock:
                    self.publisher.retranslate()
            except Exception:  # keep watching: the next change or mesh edit may fix it
                log.exception("certificates changed but the meshes could not be served again")

    def _cloud_map_queries(self) -> set:
        return set().union(
            *(model.cloud_map_queries() for model in self.publisher.served().values())
        )

    async def _republish_cloud_map(self) -> None:
        """Cloud Map answered differently: translate again the meshes that ask it."""
        # Under the store's write lock, so a write's prepare -> commit -> publish never
        # interleaves with this one (it would publish a snapshot made before the new answer).
        lock = self.store.write_lock if self.store is not None else contextlib.nullcontext()
        async with lock:
            models = {n: m for n, m in self.publisher.served().items() if m.cloud_map_queries()}
            try:
                self.publisher.publish(self.publisher.prepare(models))
            except ConfigError as err:
                log.error("cloud map change not served, the last config keeps serving: %s", err)

    def ports(self) -> str:
        """`xds N [api N] [debug N] [metrics N]`: what a script starting us with port 0 waits for."""
        line = f"xds {self.xds_port}"
        if self.api is not None:
            line += f" api {self.api.port}"
        if self.debug_server is not None:
            line += f" debug {self.debug_server.port}"
        if self.metrics_server is not None:
            line += f" metrics {self.metrics_server.port}"
        return line

    async def stop(self, grace: float = 0) -> None:
        if self._replica_task is not None:
            self._replica_task.cancel()
            await asyncio.gather(self._replica_task, return_exceptions=True)
            self._replica_task = None
        if self._certs_task is not None:
            self._certs_task.cancel()
            await asyncio.gather(self._certs_task, return_exceptions=True)
            self._certs_task = None
        if self._cloud_map_task is not None:
            self._cloud_map_task.cancel()
            await asyncio.gather(self._cloud_map_task, return_exceptions=True)
            self._cloud_map_task = None
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
            self._watch_task = None
        if self.api is not None:
            await self.api.stop()
            self.api = None
        if self.debug_server is not None:
            await self.debug_server.stop()
            self.debug_server = None
        if self.metrics_server is not None:
            await self.metrics_server.stop()
            self.metrics_server = None
        if self._grpc_server is not None:
            await self._grpc_server.stop(grace)
            self._grpc_server = None
        if self.store is not None:
            self.store.store.close()
            self.store = None

    async def __aenter__(self) -> ControlPlane:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    async def run(self, on_ready: Callable[[str], object] | None = None) -> int:
        """Serve until SIGINT or SIGTERM (exit 0); a failed mesh watch ends it with its error."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            async with self:
                log.info("control plane ready: %s", self.ports())
                if on_ready is not None:
                    on_ready(f"ready {self.ports()}")
                stopper = asyncio.ensure_future(stop.wait())
                waits = {stopper} | ({self._watch_task} if self._watch_task else set())
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if self._watch_task is not None and self._watch_task.done():
                    self._watch_task.result()  # the watch only ends on an error: report it
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        return 0
