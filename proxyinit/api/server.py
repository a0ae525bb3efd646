"""Serve the API with uvicorn on the running event loop (the one the gRPC ADS server uses).

One loop for both means a write's push to Envoy needs no cross-thread hand-off. uvicorn's own
signal handling is switched off: the process owner (`xds serve`) decides when to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

log = logging.getLogger(__name__)


def _server_class():
    import uvicorn

    class EmbeddedServer(uvicorn.Server):
        def capture_signals(self):  # SIGINT/SIGTERM belong to the process owner
            return contextlib.nullcontext()

    return EmbeddedServer


class ApiServer:
    """uvicorn serving `app` on host:port (port 0: any free port, read `.port` after start)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 15080):
        self.app, self.host, self.port = app, host, port
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
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
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
