"""Prometheus metrics of one ControlPlane, in a registry of its own (not the process-global
default), so tests and benchmarks can run several planes in one process.

Where each number comes from, without adding code to the protocol's hot path:
- xDS: `XdsMetrics`, an ADS server `Callbacks` (go-control-plane style): streams by mesh,
  responses (pushes) and requests (ACK, NACK, ...) by type, push -> ACK latency;
- snapshot build: `TimedPublisher`, the publisher whose `prepare` (translate + freeze) is timed;
- store: `TimedStore` around the store's `commit` (the fsync'd transaction, in its worker thread);
- API: `metrics_http.instrument_api`, an ASGI wrapper around the FastAPI app.
Served as Prometheus text by `metrics_http.MetricsServer` (`xds serve --metrics HOST:PORT`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from proxyinit.contract import NodeId
from proxyinit.controlplane.publisher import Prepared, SnapshotPublisher
from proxyinit.controlplane.xds_counts import XdsCollector, XdsCounts
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.store.base import Key, Record
from proxyinit.xds.server import Callbacks
from proxyinit.xds.stream import SHORT_TYPE_NAMES, RequestKind, StreamState

# 1 ms .. 10 s: a push is ACKed in a few ms on a healthy node, seconds on a loaded one.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class PlaneMetrics:
    """Every metric of one control plane, registered in `self.registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # RSS, open fds, CPU: what limits a plane
        r = self.registry
        self.connected = Gauge(
            "proxyinit_xds_connected_envoys",
            "ADS streams open now (one per connected Envoy), by mesh",
            ["mesh"],
            registry=r,
        )
        self.streams_opened = Counter(
            "proxyinit_xds_streams_opened", "ADS streams accepted since start", registry=r
        )
        # Pushes, requests and push -> ACK latency: counted per message, exposed when scraped.
        self.xds = XdsCounts(LATENCY_BUCKETS)
        r.register(XdsCollector(self.xds))
        self._add_build_store_api(r)

    def _add_build_store_api(self, r: CollectorRegistry) -> None:
        self.prepare = Histogram(
            "proxyinit_snapshot_prepare_seconds",
            "Time to build snapshots (translate + freeze) for one change of the meshes",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.prepared_snapshots = Counter(
            "proxyinit_snapshot_prepared",
            "Snapshots built (one per virtual node or gateway of each changed mesh)",
            registry=r,
        )
        self.commit = Histogram(
            "proxyinit_store_commit_seconds",
            "Time of one store transaction (fsync'd), successful or not",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.commit_failures = Counter(
            "proxyinit_store_commit_failures", "Store transactions that failed", registry=r
        )
        # Replicas sharing a PostgreSQL store (controlplane/replica.py).
        self.replica_notifications = Counter(
            "proxyinit_replica_notifications",
            "Notifications of another replica's write received (NOTIFY)",
            registry=r,
        )
        self.replica_catch_ups = Counter(
            "proxyinit_replica_catch_ups",
            "Catch-ups that found other replicas' writes and served them",
            registry=r,
        )
        self.api_requests = Counter(
            "proxyinit_api_requests",
            "App Mesh API requests, by operation (CreateVirtualNode, ...) and HTTP status",
            ["operation", "status"],
            registry=r,
        )
        self.api_latency = Histogram(
            "proxyinit_api_request_seconds",
            "App Mesh API request latency (until the response is sent), by operation",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )


def mesh_of(node_id: str) -> str:
    """The `mesh` label of a stream: streams are bound to valid App Mesh node ids."""
    try:
        return NodeId.parse(node_id).mesh
    except ConfigError:
        return ""


class _StreamMetrics:
    __slots__ = ("mesh", "responses", "sent_at")

    def __init__(self, mesh: str) -> None:
        self.mesh = mesh
        self.responses: dict[str, int] = {}  # type URL -> responses counted so far
        self.sent_at: dict[str, float] = {}  # type URL -> monotonic time of the unACKed push


class XdsMetrics(Callbacks):
    """The xDS metrics, from the ADS server's callbacks. Loop-local like the server."""

    def __init__(self, metrics: PlaneMetrics) -> None:
        self.m = metrics
        self.counts = metrics.xds
        self._streams: dict[int, _StreamMetrics] = {}
        self._per_mesh: dict[str, int] = {}  # open streams, to drop a label that falls to 0

    def on_stream_open(self, stream: StreamState) -> None:
        tracked = _StreamMetrics(mesh_of(stream.node_id))
        self._streams[stream.stream_id] = tracked
        self._per_mesh[tracked.mesh] = self._per_mesh.get(tracked.mesh, 0) + 1
        self.m.connected.labels(tracked.mesh).inc()
        self.m.streams_opened.inc()

    def on_stream_close(self, stream: StreamState) -> None:
        tracked = self._streams.pop(stream.stream_id, None)
        if tracked is None:
            return
        left = self._per_mesh.pop(tracked.mesh) - 1
        if left:
            self._per_mesh[tracked.mesh] = left
            self.m.connected.labels(tracked.mesh).dec()
        else:  # a deleted mesh's label must not stay forever
            self.m.connected.remove(tracked.mesh)

    def on_request(self, stream: StreamState, type_url: str, kind: RequestKind) -> None:
        short = SHORT_TYPE_NAMES.get(type_url, "other")  # a client's URL is no label value
        self.counts.request(short, kind.value)
        if kind is not RequestKind.ACK and kind is not RequestKind.NACK:
            return
        tracked = self._streams.get(stream.stream_id)
        if tracked is None:
            return
        # The server only classifies a request as ACK/NACK when it echoes the last nonce, so
        # it answers the latest push of its type.
        sent = tracked.sent_at.pop(type_url, None)
        if sent is not None and kind is RequestKind.ACK:
            self.counts.ack_latency(short, time.monotonic() - sent)

    def on_responses_sent(self, stream: StreamState) -> None:
        tracked = self._streams.get(stream.stream_id)
        if tracked is None:
            return
        now = None
        for type_url, state in stream.types.items():
            sent = state.responses - tracked.responses.get(type_url, 0)
            if sent <= 0:
                continue
            tracked.responses[type_url] = state.responses
            self.counts.push(SHORT_TYPE_NAMES[type_url], sent)
            if now is None:
                now = time.monotonic()
            tracked.sent_at[type_url] = now  # a newer push supersedes an unACKed one


class TimedPublisher(SnapshotPublisher):
    """The publisher, with `prepare` (the CPU-heavy step of every change) timed."""

    def __init__(self, cache, translate, metrics: PlaneMetrics, certificates=None) -> None:
        super().__init__(cache, translate, certificates)
        self.metrics = metrics

    def prepare(self, meshes: Mapping[str, MeshModel | None]) -> Prepared:
        start = time.perf_counter()
        try:
            prepared = super().prepare(meshes)
        finally:
            self.metrics.prepare.observe(time.perf_counter() - start)
        self.metrics.prepared_snapshots.inc(sum(len(s) for s in prepared.values() if s))
        return prepared


class TimedStore:
    """A `Store` whose commits are timed; everything else is the wrapped store's."""

    def __init__(self, store, metrics: PlaneMetrics) -> None:
        self.store, self.metrics = store, metrics

    def load(self) -> list[Record]:
        return self.store.load()

    def commit(self, puts: Iterable[Record], deletes: Iterable[Key]) -> None:
        start = time.perf_counter()
        try:
            self.store.commit(puts, deletes)
        except BaseException:
            self.metrics.commit_failures.inc()
            raise
        finally:
            self.metrics.commit.observe(time.perf_counter() - start)

    def close(self) -> None:
        self.store.close()

    def __getattr__(self, name: str):
        return getattr(self.store, name)  # e.g. `path`, for messages
