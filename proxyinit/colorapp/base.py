"""What both walkthrough apps share: a quiet keep-alive HTTP handler, and start-as-root, bind,
then run as an unprivileged uid (as an app container would)."""

from __future__ import annotations

import argparse
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from proxyinit.colorapp.args import add_server_args


class AppHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Envoy's connection pools expect
    # Headers and body go out as two writes; with Nagle on, the body waits for the peer's
    # delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # quiet: thousands of requests in the demo
        pass


def warm_up() -> None:
    """The Python running us may live where an unprivileged uid cannot read (a root-owned
    pyenv): import now what http.server, urllib and json pull in lazily on a first request."""
    import email.utils  # noqa: F401
    import encodings.idna  # noqa: F401
    import http.client  # noqa: F401
    import json  # noqa: F401
    import urllib.request

    urllib.request.build_opener()
    "colorteller.default.svc.cluster.local".encode("idna")


def drop_to(uid: int | None) -> None:
    """setgid/setuid to `uid` (gid = uid) if we are root and a uid was asked for."""
    if uid is None or os.geteuid() != 0:
        return
    warm_up()
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def serve(handler: type[AppHandler], host: str, port: int, uid: int | None, banner: str) -> None:
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    drop_to(uid)
    print(f"{banner} listening on {host}:{port}", flush=True)
    server.serve_forever()


def server_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    add_server_args(parser)
    return parser.parse_args()
