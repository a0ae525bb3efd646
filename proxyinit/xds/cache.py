"""Snapshot cache: node id -> current Snapshot, with change notification for streams.

Contract (go-control-plane's `SnapshotCache`, reduced to what SotW ADS needs):
- Writers (the mesh publisher) call `set_snapshot` / `clear_snapshot`; readers (server streams)
  call `get_snapshot` and `subscribe`. Everything runs on one asyncio loop: no locks, and callers
  must not call it from other threads.
- Subscribers get a plain synchronous callback per change of *their* node, never of another node;
  a callback must only wake its stream (set an Event), not do work, so fan-out to thousands of
  streams is one cheap loop over callbacks.
- `set_snapshot` with the same content (same per-type versions) is a no-op: streams are woken
  only when something they could receive changed.
- Delta xDS seam: snapshots keep per-resource digests, and subscribers are told *which* node
  changed; a delta stream can diff old/new snapshots itself without changing this interface.
"""

from __future__ import annotations

from collections.abc import Callable

from proxyinit.xds.snapshot import Snapshot

ChangeCallback = Callable[[], None]


class Subscription:
    """Handle returned by `SnapshotCache.subscribe`; `close()` stops notifications."""

    __slots__ = ("_cache", "_callback", "_node_id")

    def __init__(self, cache: SnapshotCache, node_id: str, callback: ChangeCallback):
        self._cache = cache
        self._node_id = node_id
        self._callback = callback

    def close(self) -> None:
        self._cache._unsubscribe(self._node_id, self._callback)


class SnapshotCache:
    """In-memory node id -> Snapshot map with per-node watchers."""

    def __init__(self) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        # dict used as an ordered set: O(1) removal when one of thousands of streams closes.
        self._watchers: dict[str, dict[ChangeCallback, None]] = {}

    def get_snapshot(self, node_id: str) -> Snapshot | None:
        return self._snapshots.get(node_id)

    def node_ids(self) -> list[str]:
        return sorted(self._snapshots)

    def set_snapshot(self, node_id: str, snapshot: Snapshot) -> bool:
        """Publish `snapshot` for `node_id`; return True if it changed (and watchers were woken)."""
        current = self._snapshots.get(node_id)
        if snapshot is current or snapshot.same_content(current):  # `is`: an untouched node
            return False
        self._snapshots[node_id] = snapshot
        self._notify(node_id)
        return True

    def clear_snapshot(self, node_id: str) -> bool:
        """Forget `node_id` (its virtual node left the mesh); its streams are woken to end."""
        if self._snapshots.pop(node_id, None) is None:
            return False
        self._notify(node_id)
        return True

    def subscribe(self, node_id: str, callback: ChangeCallback) -> Subscription:
        self._watchers.setdefault(node_id, {})[callback] = None
        return Subscription(self, node_id, callback)

    def _unsubscribe(self, node_id: str, callback: ChangeCallback) -> None:
        watchers = self._watchers.get(node_id)
        if watchers is None:
            return
        watchers.pop(callback, None)
        if not watchers:
            del self._watchers[node_id]

    def _notify(self, node_id: str) -> None:
        for callback in list(self._watchers.get(node_id, ())):
            callback()
