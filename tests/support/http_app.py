"""Small HTTP apps behind real Envoys in the xDS tests: one serving block, one fixed answer."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time


@contextlib.contextmanager
def http_app(host: str, port: int, handler: type[http.server.BaseHTTPRequestHandler]):
    """Serve `handler` on host:port in a thread; leaving the block stops it (the port then
    refuses connections)."""
    server = http.server.ThreadingHTTPServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def answering(body: bytes, status: int = 200, delay: float = 0.0):
    """A handler answering every GET with `status` and `body`, after `delay` seconds."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # http.server's name
            time.sleep(delay)
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def get_body(port: int, host: str) -> str | None:
    """GET / from 127.0.0.1:port with Host `host` (an Envoy listener routing by it): the body,
    or None when nothing answers yet or Envoy answers an error (no endpoint, ejected, ...)."""
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None
