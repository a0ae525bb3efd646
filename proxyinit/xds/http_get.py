"""A read-only HTTP/1.1 endpoint on asyncio, stdlib only: GET of a few fixed paths.

The debug endpoint and the metrics scrape are both this: one page, a short idle timeout for the
request head (an idle socket is closed, not kept), 404 for another path, 405 for anything but
GET, 400 for a malformed or oversized head; errors are JSON `{"error": ...}`. Nothing can be
changed through it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from proxyinit.bounds import ConnectionLimits
from proxyinit.errors import RuntimeFailure

log = logging.getLogger(__name__)

Page = tuple[bytes | Callable[[], bytes], str]  # (body or what makes it, content type)
_MAX_REQUEST_HEAD = 8192
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


class GetOnlyServer:
    """`start()` binds (port 0 picks a free one, see `.port`); `stop()` closes it.

    `page()` renders the one document, served at each of `paths`; `name` is said in the log
    and in the error when the address cannot be bound (e.g. "--metrics"); `limits` bound the
    connections (past the cap: 503 and closed)."""

    def __init__(
        self,
        page: Callable[[], Page],
        paths: tuple[str, ...],
        host: str,
        port: int,
        name: str,
        limits: ConnectionLimits | None = None,
    ):
        self.page, self.paths, self.host, self.port, self.name = page, paths, host, port, name
        self.limits = limits or ConnectionLimits()
        self._open = 0  # connections being served
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as err:
            raise RuntimeFailure(
                f"{self.name} {self.host}:{self.port}: cannot listen ({err.strerror or err})"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("%s on http://%s:%d%s", self.name, self.host, self.port, self.paths[-1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._open >= self.limits.max_connections:
            await self._send(writer, 503, _error("too many connections"))
            return
        self._open += 1
        try:
            await self._serve(reader, writer)
        finally:
            self._open -= 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.limits.header_timeout)
            status, (body, content_type) = self._respond(head)
            if callable(body):  # a large page is encoded in a thread: the loop keeps serving
                body = await asyncio.to_thread(body)
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
        ):
            status, (body, content_type) = 400, _error("bad request")
        await self._send(writer, status, (body, content_type))

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, page: Page) -> None:
        body, content_type = page
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

    def _respond(self, head: bytes) -> tuple[int, Page]:
        if len(head) > _MAX_REQUEST_HEAD:
            return 400, _error("request head too large")
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(parts) != 3:
            return 400, _error("malformed request line")
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method != "GET":
            return 405, _error(f"{method} not allowed: this endpoint is read-only")
        if target not in self.paths:
            return 404, _error(f"no such path {target}; try {self.paths[-1]}")
        return 200, self.page()


def _error(message: str) -> Page:
    return json.dumps({"error": message}).encode() + b"\n", "application/json"


def json_page(document: object) -> Page:
    """The page of `document`; the body is a function encoding it (in a worker thread, see
    `_serve`): a thousand nodes' JSON takes tens of milliseconds. `document` must be the
    caller's own (built for this request), as the loop goes on meanwhile."""
    return (
        lambda: json.dumps(document, indent=2, sort_keys=True).encode() + b"\n",
        "application/json",
    )
