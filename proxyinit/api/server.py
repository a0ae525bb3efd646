"""Serve the API with uvicorn on the running event loop (the one the gRPC ADS server uses).

One loop for both means a write's push to Envoy needs no cross-thread hand-off. uvicorn's own
signal handling is switched off: the process owner (`xds serve`) decides when to stop.
Connections are bounded (bounds.ConnectionLimits): uvicorn closes idle keep-alive connections
but waits forever for the first request of a new one and accepts any number, so its h11
protocol is extended with a cap (503 and close past it) and a deadline for the request head.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from proxyinit.bounds import ConnectionLimits

log = logging.getLogger(__name__)
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"content-length: 36\r\nconnection: close\r\n\r\n"
    b'{"message":"too many connections"}\r\n'
)


def _server_class():
    import uvicorn

    class EmbeddedServer(uvicorn.Server):
        def capture_signals(self):  # SIGINT/SIGTERM belong to the process owner
            return contextlib.nullcontext()

    return EmbeddedServer


def _bounded_protocol(limits: ConnectionLimits):
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class BoundedH11Protocol(H11Protocol):
        refused = False
        head_deadline = None

        def connection_made(self, transport) -> None:
            if len(self.connections) >= limits.max_connections:
                self.refused = True  # refused, not queued: the client hears so at once
                transport.write(_REFUSED)
                transport.close()
                return
            super().connection_made(transport)
            self.head_deadline = self.loop.call_later(limits.header_timeout, self._no_request)

        def _no_request(self) -> None:
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()  # connected, but no request head in time

        def connection_lost(self, exc) -> None:
            if self.head_deadline is not None:
                self.head_deadline.cancel()
            if not self.refused:
                super().connection_lost(exc)

    return BoundedH11Protocol


class ApiServer:
    """uvicorn serving `app` on host:port (port 0: any free port, read `.port` after start)."""

    def __init__(
        self,
        app,
        host: str = "127.0.0.1",
        port: int = 15080,
        limits: ConnectionLimits | None = None,
    ):
        self.app, self.host, self.port = app, host, port
        self.limits = limits or ConnectionLimits()
        self._server = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        import uvicorn

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as err:
            sock.close()
            from proxyinit.errors import RuntimeFailure

            raise RuntimeFailure(
                f"--api {self.host}:{self.port}: cannot listen ({err.strerror or err})"
            ) from None
        sock.listen(1024)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            http=_bounded_protocol(self.limits),
            timeout_keep_alive=self.limits.keep_alive,
            h11_max_incomplete_event_size=16 * 1024,  # the request head (h11's default, explicit)
        )
        self._server = _server_class()(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the start-up error
            await asyncio.sleep(0.01)
        log.info(
            "App Mesh API on http://%s:%d/v20190125 (OpenAPI at /openapi.json)",
            self.host,
            self.port,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
