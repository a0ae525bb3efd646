"""The metrics' two HTTP sides: the scrape endpoint, and the API's requests measured.

`MetricsServer` is plain HTTP/1.1 on the plane's event loop (like the debug endpoint):
GET /metrics (or /) -> Prometheus text of one registry; anything else 404, non-GET 405.
`instrument_api` wraps the App Mesh API's ASGI app from outside, so `api/` knows nothing of it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from proxyinit.controlplane.metrics import PlaneMetrics

log = logging.getLogger(__name__)

_HEAD_TIMEOUT = 5  # seconds for a scraper to send its request head: idle sockets are closed
_MAX_REQUEST_HEAD = 8192
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


class MetricsServer:
    """`start()` binds (port 0 picks a free one, see `.port`); `stop()` closes it."""

    def __init__(self, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0):
        self.registry, self.host, self.port = registry, host, port
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as err:
            from proxyinit.errors import RuntimeFailure

            raise RuntimeFailure(
                f"--metrics {self.host}:{self.port}: cannot listen ({err.strerror or err})"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("Prometheus metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
            status, body, content_type = self._respond(head)
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
        ):
            status, body, content_type = 400, b"bad request\n", "text/plain"
        response = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        try:
            writer.write(response)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _respond(self, head: bytes) -> tuple[int, bytes, str]:
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(head) > _MAX_REQUEST_HEAD or len(parts) != 3:
            return 400, b"bad request\n", "text/plain"
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method != "GET":
            return 405, f"{method} not allowed: GET /metrics\n".encode(), "text/plain"
        if target not in ("/", "/metrics"):
            return 404, b"no such path; try /metrics\n", "text/plain"
        return 200, generate_latest(self.registry), CONTENT_TYPE_LATEST


def instrument_api(app, metrics: PlaneMetrics):
    """The ASGI app `app`, counting each HTTP request by operation and status, and timing it.

    The operation is the route's name (App Mesh's operation names, from the API's table); a
    request refused before routing (an oversized body) is matched against the routes here, and
    one matching no route is `unknown`, so a client cannot create label values."""

    async def measured(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_status)
        finally:
            operation = _operation(app, scope)
            metrics.api_requests.labels(operation, str(status)).inc()
            metrics.api_latency.labels(operation).observe(time.perf_counter() - start)

    return measured


def _operation(app, scope) -> str:
    route = scope.get("route")  # set by the router on the scope it was given
    if route is None:
        from starlette.routing import Match

        route = next((r for r in app.routes if r.matches(scope)[0] is Match.FULL), None)
    return getattr(route, "name", None) or "unknown"
