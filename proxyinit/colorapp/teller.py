"""colorteller: `GET /` -> its color (COLOR env, default white); `GET /ping` -> 200 for health."""

from __future__ import annotations

import argparse
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from proxyinit.colorapp.privileges import drop_to


class TellerHandler(BaseHTTPRequestHandler):
    color = "white"
    protocol_version = "HTTP/1.1"  # keep-alive, as Envoy's upstream pool expects
    # Headers and body go out as two writes; with Nagle on, the body waits for the peer's
    # delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path in ("/", "/ping"):
            self.reply(200, self.color if self.path == "/" else "pong")
        else:
            self.reply(404, "not found")

    def reply(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # quiet: thousands of requests in the demo
        pass


def serve(host: str, port: int, color: str, uid: int | None = None) -> None:
    handler = type("Handler", (TellerHandler,), {"color": color})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    drop_to(uid)
    print(f"colorteller {color} listening on {host}:{port}", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("SERVER_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SERVER_PORT", "9080")))
    parser.add_argument("--uid", type=int, default=None, help="run as this uid/gid after binding (when root)")
    args = parser.parse_args()
    serve(args.host, args.port, os.environ.get("COLOR", "white"), args.uid)


if __name__ == "__main__":
    main()
