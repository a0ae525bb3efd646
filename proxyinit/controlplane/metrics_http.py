"""The metrics' two HTTP sides: the scrape endpoint, and the API's requests measured.

`MetricsServer` is the debug endpoint's read-only HTTP server (xds/http_get.py) on the plane's
event loop: GET /metrics (or /) -> Prometheus text of one registry; anything else 404, non-GET 405.
`instrument_api` wraps the App Mesh API's ASGI app from outside, so `api/` knows nothing of it.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from proxyinit.controlplane.metrics import PlaneMetrics
from proxyinit.xds.http_get import GetOnlyServer


class MetricsServer(GetOnlyServer):
    """`start()` binds (port 0 picks a free one, see `.port`); `stop()` closes it."""

    def __init__(
        self, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0, limits=None
    ):
        super().__init__(self._page, ("/", "/metrics"), host, port, "--metrics", limits)
        self.registry = registry

    def _page(self):
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


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
