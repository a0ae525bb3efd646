"""Read-only debug endpoint: plain HTTP/1.1 on asyncio, stdlib only, loopback by default.

GET /        (or /nodes) -> JSON: every node the cache knows, whether it is connected, the
                            snapshot versions per type, and per stream and type the version sent,
                            the version acked and the last NACK (version and Envoy's error).
Anything else is 404; anything but GET is 405 (http_get.py). Nothing can be changed through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from proxyinit.xds.cache import SnapshotCache
from proxyinit.xds.http_get import GetOnlyServer, json_page
from proxyinit.xds.server import StreamRegistry
from proxyinit.xds.stream import SHORT_TYPE_NAMES


def debug_state(cache: SnapshotCache, registry: StreamRegistry, problems=None) -> dict:
    """The JSON document served at `/`: a pure function of the cache, the live streams and the
    producer's `problems` ({node id: [why part of its config is refused]})."""
    nodes: dict[str, dict] = {}
    for node_id in cache.node_ids():
        snapshot = cache.get_snapshot(node_id)
        nodes[node_id] = {
            "connected": False,
            "snapshot": {SHORT_TYPE_NAMES[url]: v for url, v in snapshot.versions().items()},
            "streams": [],
        }
    for stream in sorted(registry.streams(), key=lambda s: s.stream_id):
        entry = nodes.setdefault(
            stream.node_id, {"connected": False, "snapshot": None, "streams": []}
        )
        entry["connected"] = True
        entry["streams"].append(stream.as_json())
    for node_id, why in (problems or {}).items():
        if node_id in nodes:
            nodes[node_id]["problems"] = list(why)
    return {"nodes": nodes}


class DebugServer(GetOnlyServer):
    """`start()` binds (port 0 picks a free one, see `.port`); `stop()` closes it."""

    def __init__(
        self,
        cache: SnapshotCache,
        registry: StreamRegistry,
        host: str = "127.0.0.1",
        port: int = 0,
        problems=None,
        sections: Mapping[str, Callable[[], object]] | None = None,
        limits=None,  # bounds.ConnectionLimits (http_get.py)
    ):
        super().__init__(self._page, ("/nodes", "/"), host, port, "--debug", limits)
        self.cache, self.registry = cache, registry
        self.problems = problems  # () -> {node id: [why]}, the producer's notes
        # More top-level keys of `/`, from the producer (e.g. the control plane's Cloud Map status).
        self.sections = dict(sections or {})

    def _page(self):
        problems = self.problems() if self.problems is not None else None
        state = debug_state(self.cache, self.registry, problems)
        state.update({name: section() for name, section in self.sections.items()})
        return json_page(state)
