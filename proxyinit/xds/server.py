"""gRPC ADS server (SotW `StreamAggregatedResources`) over `grpc.aio`.

The server only reads the `SnapshotCache`; it never knows how snapshots are made. Each stream:
1. reads its first request and binds the stream to the cache key that `node_key` makes of its
   Node for the stream's whole life (refused -> INVALID_ARGUMENT, no snapshot for it ->
   NOT_FOUND), so a node can never receive another node's config; with an `authorize`
   (xds/auth.py) the peer's credential must name that node, first and later (PERMISSION_DENIED);
2. then reacts to two things only, both of which just set the stream's wake-up Event: a request
   from Envoy (a reader task queues it) and a cache change for *its* node;
3. on each wake-up applies the queued requests to its `StreamState` (nonce/ACK/NACK rules live
   there) and sends what it owes for the current snapshot, in PUSH_ORDER.
While the stream idles, the reader applies a request naming no node itself and wakes the
stream only if a response may now be owed: Envoy's ACK of a push costs no second turn.
Delta xDS (`DeltaAggregatedResources`) is left to the generated base class (UNIMPLEMENTED): a
delta stream would plug into the same cache and callbacks with its own state machine.
`Callbacks` observe streams (open, request, responses sent, close) without living on the
protocol's code path: metrics, the debug endpoint's stream table and tests hang off them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterable

import grpc
from envoy.config.core.v3 import base_pb2 as core_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from proxyinit.xds import auth, wire
from proxyinit.xds.cache import SnapshotCache
from proxyinit.xds.stream import SHORT_TYPE_NAMES, RequestKind, StreamState

log = logging.getLogger(__name__)

_END = object()  # queued by the reader when Envoy half-closes or the call breaks
NodeKey = Callable[[core_pb2.Node], str]


class Callbacks:
    """Hooks on the ADS protocol (go-control-plane's `server.Callbacks`): metrics, the debug
    endpoint's stream table, tests. Subclass and override what you need; the defaults do nothing.

    They run on the server's loop, in the stream's turn (`on_request` also in its reader, between
    turns): each must be quick and must not raise.
    """

    def on_stream_open(self, stream: StreamState) -> None:
        """A stream bound to its node (after the first request was accepted)."""

    def on_stream_close(self, stream: StreamState) -> None:
        """The stream ended, for whatever reason."""

    def on_request(self, stream: StreamState, type_url: str, kind: RequestKind) -> None:
        """Envoy sent a request, already classified (ACK, NACK, first request, ...)."""

    def on_responses_sent(self, stream: StreamState) -> None:
        """A turn of the stream sent what it owed (possibly nothing)."""


class StreamRegistry(Callbacks):
    """The live streams, for the debug endpoint. Loop-local, not thread-safe."""

    def __init__(self) -> None:
        self._streams: dict[int, StreamState] = {}

    def on_stream_open(self, stream: StreamState) -> None:
        self._streams[stream.stream_id] = stream

    def on_stream_close(self, stream: StreamState) -> None:
        self._streams.pop(stream.stream_id, None)

    def streams(self) -> list[StreamState]:
        return list(self._streams.values())


def node_id_of(node: core_pb2.Node) -> str:
    """The default node key: Envoy's `node.id`, which must not be empty."""
    if not node.id:
        raise ValueError("the first request carries no node id")
    return node.id


class AggregatedDiscoveryService(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    """SotW ADS over the cache. One instance serves every stream."""

    def __init__(
        self,
        cache: SnapshotCache,
        callbacks: Iterable[Callbacks] = (),
        node_key: NodeKey = node_id_of,
        authorize: auth.Authorize | None = None,
    ):
        """`node_key` maps the first request's Node to the cache key of its snapshots (the
        application's id grammar lives there, not here); ValueError refuses the stream.
        `authorize` (xds/auth.py), if given, must allow the peer every node key a request names."""
        self.cache = cache
        self.callbacks: list[Callbacks] = list(callbacks)
        self.node_key = node_key
        self.authorize = authorize
        self._stream_ids = itertools.count(1)

    def add_callbacks(self, callbacks: Callbacks) -> None:
        self.callbacks.append(callbacks)

    async def StreamAggregatedResources(
        self,
        request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[wire.EncodedResponse]:
        requests = aiter(request_iterator)
        try:
            first = await anext(requests)
        except StopAsyncIteration:
            return
        peer = auth.PeerCredentials.of(context) if self.authorize is not None else None
        node_id = await self._bind_node(first, context, peer)
        stream = StreamState(next(self._stream_ids), node_id, peer=context.peer() or "")
        turn = _Turn(first)
        wakeup, inbox = turn.wakeup, turn.inbox
        subscription = self.cache.subscribe(node_id, wakeup.set)
        reader = asyncio.create_task(
            _read_requests(requests, inbox, wakeup, lambda r: self._apply_now(stream, turn, r))
        )
        for callbacks in self.callbacks:
            callbacks.on_stream_open(stream)
        log.info("xds stream %d opened by %s (%s)", stream.stream_id, node_id, stream.peer)
        try:
            while True:
                wakeup.clear()
                if not await self._apply_requests(stream, inbox, context, peer):
                    return
                snapshot = self.cache.get_snapshot(node_id)
                if snapshot is None:
                    await context.abort(
                        grpc.StatusCode.NOT_FOUND, f"node {node_id} no longer has a configuration"
                    )
                for response in stream.pending_responses(snapshot):
                    log.debug(
                        "xds stream %d: send %s %s",
                        stream.stream_id,
                        response.type_url,
                        response.version_info,
                    )
                    yield response
                for callbacks in self.callbacks:
                    callbacks.on_responses_sent(stream)
                turn.idle = True
                await wakeup.wait()
                turn.idle = False
        finally:
            subscription.close()
            reader.cancel()
            try:
                # Awaited, so no reader outlives its stream (nor logs "Task was destroyed but it
                # is pending"); its CancelledError is the one we just asked for.
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            finally:
                for callbacks in self.callbacks:
                    callbacks.on_stream_close(stream)
                log.info("xds stream %d of %s closed", stream.stream_id, node_id)

    async def _bind_node(
        self,
        first: discovery_pb2.DiscoveryRequest,
        context: grpc.aio.ServicerContext,
        peer: auth.PeerCredentials | None,
    ) -> str:
        try:
            node_id = self.node_key(first.node)
        except ValueError as err:
            log.warning("xds stream refused: %s", err)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        # Before the snapshot lookup: an unauthorised peer must not learn which nodes exist.
        await auth.check(self.authorize, peer, node_id, context)
        if self.cache.get_snapshot(node_id) is None:
            log.warning("xds stream refused: no configuration for node %s", node_id)
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no configuration for node {node_id}")
        return node_id

    async def _check_same_node(
        self,
        stream: StreamState,
        node: core_pb2.Node,
        context: grpc.aio.ServicerContext,
        peer: auth.PeerCredentials | None,
    ) -> None:
        """A stream stays bound to its first node: a request naming another ends it."""
        try:
            key = self.node_key(node)
        except ValueError:
            key = None
        if key is not None:  # a credential for another node: PERMISSION_DENIED, not a typo
            await auth.check(self.authorize, peer, key, context)
        if key != stream.node_id:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"node id changed on the stream from {stream.node_id} to {node.id}",
            )

    async def _apply_requests(
        self,
        stream: StreamState,
        inbox: collections.deque,
        context: grpc.aio.ServicerContext,
        peer: auth.PeerCredentials | None = None,
    ) -> bool:
        """Feed queued requests to the state machine; False when the stream should end."""
        while inbox:
            request = inbox.popleft()
            if request is _END:
                return False
            if _names_a_node(request):
                await self._check_same_node(stream, request.node, context, peer)
            self._apply(stream, request)
        return True

    def _apply(self, stream: StreamState, request: discovery_pb2.DiscoveryRequest) -> RequestKind:
        kind = stream.on_request(request)
        self._log_request(stream, request, kind)
        for callbacks in self.callbacks:
            callbacks.on_request(stream, request.type_url, kind)
        return kind

    def _apply_now(
        self, stream: StreamState, turn: _Turn, request: discovery_pb2.DiscoveryRequest
    ) -> bool:
        """Apply `request` in the reader, without waking the stream's task unless it may now owe
        a response: an ACK costs one task wake-up instead of two. Only while the stream idles
        with nothing queued (requests stay in order, and a turn's responses are all sent and
        counted before an ACK of them is applied), and only for a request naming no node (the
        node and credential checks may end the call: they stay on the stream's task).
        False: not applied, the reader queues it."""
        if not turn.idle or turn.inbox or _names_a_node(request):
            return False
        kind = self._apply(stream, request)
        if stream.may_owe_after(request.type_url, kind):
            turn.wakeup.set()
        return True

    @staticmethod
    def _log_request(
        stream: StreamState, request: discovery_pb2.DiscoveryRequest, kind: RequestKind
    ) -> None:
        short = SHORT_TYPE_NAMES.get(request.type_url, request.type_url)
        if kind is RequestKind.NACK:
            log.warning(
                "xds NACK from %s for %s version %s: %s",
                stream.node_id,
                short,
                stream.types[request.type_url].sent_version,
                request.error_detail.message,
            )
        elif kind is RequestKind.UNKNOWN_TYPE:
            log.info(
                "xds stream %d: ignoring request for unserved type %s", stream.stream_id, short
            )
        else:
            log.debug(
                "xds stream %d: %s %s %s", stream.stream_id, kind.value, short, request.version_info
            )


class _Turn:
    """What a stream's task shares with its reader: the queued requests, the wake-up, and
    whether the task is idle (waiting for a wake-up, between turns)."""

    __slots__ = ("idle", "inbox", "wakeup")

    def __init__(self, first: discovery_pb2.DiscoveryRequest) -> None:
        self.idle = False
        self.inbox: collections.deque = collections.deque([first])
        self.wakeup = asyncio.Event()


def _names_a_node(request: discovery_pb2.DiscoveryRequest) -> bool:
    return request.HasField("node") and bool(request.node.id)


async def _read_requests(
    requests: AsyncIterator,
    inbox: collections.deque,
    wakeup: asyncio.Event,
    apply_now: Callable[[discovery_pb2.DiscoveryRequest], bool] | None = None,
) -> None:
    """Move Envoy's requests into the stream's inbox, unless `apply_now` took one; queue _END
    when the call ends or breaks.

    A cancellation queues _END too, then propagates: the task must end cancelled, not as if the
    call had ended on its own."""
    try:
        async for request in requests:
            if apply_now is not None and apply_now(request):
                continue
            inbox.append(request)
            wakeup.set()
    except (grpc.aio.AioRpcError, grpc.RpcError):
        pass
    finally:
        inbox.append(_END)
        wakeup.set()


# gRPC's bandwidth-delay-product probe pings the peer after data it receives, to grow its own
# receive window: on an ADS connection, a PING and its PING ACK after most Envoy ACKs (~2 more
# TCP segments per push and ACK, measured with 10,000 streams; server CPU -30%). The window it
# grows only paces Envoy's requests, which are small; responses follow Envoy's window (Envoy
# itself never sends such pings); keepalive pings are another mechanism and stay.
NO_BDP_PINGS: list[tuple[str, object]] = [("grpc.http2.bdp_probe", 0)]

# Server-side HTTP/2 pings find Envoys that vanished without a FIN (node killed, netns gone), so
# their streams, watchers and debug entries do not pile up; Envoy answers pings without config.
DEFAULT_SERVER_OPTIONS: list[tuple[str, object]] = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    *NO_BDP_PINGS,
]


async def start_server(
    service: AggregatedDiscoveryService,
    address: str,
    *,
    options: list[tuple[str, object]] | None = None,
    credentials: grpc.ServerCredentials | None = None,
    max_streams: int | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start a grpc.aio server with `service` on `address` ("host:port" or "unix:///path").

    Returns the server and the bound TCP port (0 for unix sockets); port 0 picks a free port.
    `credentials` (grpc.ssl_server_credentials): serve TLS instead of plaintext.
    `max_streams`: past it a new stream is refused (RESOURCE_EXHAUSTED), None: no cap.
    """
    server = grpc.aio.server(
        options=options if options is not None else DEFAULT_SERVER_OPTIONS,
        maximum_concurrent_rpcs=max_streams,
    )
    _add_ads_handlers(service, server)
    if credentials is not None:
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0 and not address.startswith("unix:"):
        raise OSError(f"could not bind the xDS server to {address}")
    await server.start()
    return server, (0 if address.startswith("unix:") else port)


def _add_ads_handlers(service: AggregatedDiscoveryService, server: grpc.aio.Server) -> None:
    """The generated `add_AggregatedDiscoveryServiceServicer_to_server`, but SotW responses are
    serialised by xds/wire.py: the bytes shared by every stream of a snapshot, plus a nonce."""
    handlers = {
        "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
            service.StreamAggregatedResources,
            request_deserializer=discovery_pb2.DiscoveryRequest.FromString,
            response_serializer=wire.serialize_response,
        ),
        "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(
            service.DeltaAggregatedResources,
            request_deserializer=discovery_pb2.DeltaDiscoveryRequest.FromString,
            response_serializer=discovery_pb2.DeltaDiscoveryResponse.SerializeToString,
        ),
    }
    name = "envoy.service.discovery.v3.AggregatedDiscoveryService"
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
    server.add_registered_method_handlers(name, handlers)
