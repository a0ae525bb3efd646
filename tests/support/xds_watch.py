"""Waiting on ADS streams from a test: a `Callbacks` that wakes waiters on every stream event.

The server itself keeps no waiters on its hot path; a test adds this observer when it needs one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from google.protobuf.message import Message

from proxyinit.xds.cache import SnapshotCache
from proxyinit.xds.server import Callbacks, StreamRegistry
from proxyinit.xds.snapshot import Snapshot
from proxyinit.xds.stream import RequestKind, StreamState


class StreamWatcher(Callbacks):
    """`await watcher.wait_until(lambda streams: ..., timeout)` over the registry's streams."""

    def __init__(self, registry: StreamRegistry) -> None:
        self.registry = registry
        self._changed = asyncio.Event()

    def _notify(self, *_args: object) -> None:
        # Swap the Event so each waiter sees every change once.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    on_stream_open = on_stream_close = on_responses_sent = _notify

    def on_request(self, stream: StreamState, type_url: str, kind: RequestKind) -> None:
        self._notify()

    async def wait_until(
        self, predicate: Callable[[list[StreamState]], bool], timeout: float
    ) -> None:
        """Return once `predicate(streams)` holds; raise TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            changed = self._changed
            if predicate(self.registry.streams()):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("condition on xDS streams not reached")
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass


def watch(service, registry: StreamRegistry) -> StreamWatcher:
    """A StreamWatcher added to an AggregatedDiscoveryService."""
    watcher = StreamWatcher(registry)
    service.add_callbacks(watcher)
    return watcher


def watcher_count(cache: SnapshotCache) -> int:
    """Subscriptions the cache still holds (a closed stream must leave none behind)."""
    return sum(len(watchers) for watchers in cache._watchers.values())


def messages(snapshot: Snapshot, type_url: str) -> list[Message]:
    """The resource protos of one type in a snapshot."""
    return [resource.message for resource in snapshot.resources(type_url).values()]
