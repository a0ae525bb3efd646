"""Read-only debug endpoint: plain HTTP/1.1 on asyncio, stdlib only, loopback by default.

GET /        (or /nodes) -> JSON: every node the cache knows, whether it is connected, the
                            snapshot versions per type, and per stream and type the version sent,
                            the version acked and the last NACK (version and Envoy's error).
Anything else is 404; anything but GET is 405. Nothing can be changed through it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping

from proxyinit.xds.cache import SnapshotCache
from proxyinit.xds.server import StreamRegistry
from proxyinit.xds.stream import SHORT_TYPE_NAMES

log = logging.getLogger(__name__)

_MAX_REQUEST_HEAD = 8192
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


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


class DebugServer:
    """`start()` binds (port 0 picks a free one, see `.port`); `stop()` closes it."""

    def __init__(
        self,
        cache: SnapshotCache,
        registry: StreamRegistry,
        host: str = "127.0.0.1",
        port: int = 0,
        problems=None,
        sections: Mapping[str, Callable[[], object]] | None = None,
    ):
        self.cache, self.registry = cache, registry
        self.problems = problems  # () -> {node id: [why]}, the producer's notes
        # More top-level keys of `/`, from the producer (e.g. the control plane's Cloud Map status).
        self.sections = dict(sections or {})
        self.host, self.port = host, port
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("xds debug endpoint on http://%s:%d/", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            status, body = self._respond(head)
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
        ):
            status, body = 400, {"error": "bad request"}
        await _write_response(writer, status, body)

    def _respond(self, head: bytes) -> tuple[int, dict]:
        if len(head) > _MAX_REQUEST_HEAD:
            return 400, {"error": "request head too large"}
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3:
            return 400, {"error": "malformed request line"}
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method != "GET":
            return 405, {"error": f"{method} not allowed: this endpoint is read-only"}
        if target not in ("/", "/nodes"):
            return 404, {"error": f"no such path {target}; try /"}
        problems = self.problems() if self.problems is not None else None
        state = debug_state(self.cache, self.registry, problems)
        state.update({name: section() for name, section in self.sections.items()})
        return 200, state


async def _write_response(writer: asyncio.StreamWriter, status: int, body: dict) -> None:
    payload = json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    try:
        writer.write(head + payload)
        await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
