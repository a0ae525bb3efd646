"""colorgateway: `GET /color` asks COLOR_TELLER_ENDPOINT (a name, as in the walkthrough) for a
color, records it and returns `{"color": c, "stats": {color: fraction}}`; `GET /color/clear`
resets the stats; `GET /ping` for health."""

from __future__ import annotations

import argparse
import json
import os
import threading
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from proxyinit.colorapp.privileges import drop_to

DEFAULT_TELLER = "colorteller.default.svc.cluster.local:9080"


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def record(self, color: str) -> dict[str, float]:
        with self._lock:
            self._counts[color] += 1
            total = sum(self._counts.values())
            return {c: round(n / total, 4) for c, n in sorted(self._counts.items())}

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class GatewayHandler(BaseHTTPRequestHandler):
    teller = DEFAULT_TELLER
    stats = Stats()
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle on, the body waits for the peer's
    # delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/color":
            self.color()
        elif self.path == "/color/clear":
            self.stats.clear()
            self.reply(200, {"cleared": True})
        elif self.path == "/ping":
            self.reply(200, {"ok": True})
        else:
            self.reply(404, {"error": "not found"})

    def color(self) -> None:
        try:
            with urllib.request.urlopen(f"http://{self.teller}/", timeout=5) as response:
                color = response.read().decode().strip()
        except OSError as err:
            self.reply(502, {"error": f"colorteller: {err}"})
            return
        self.reply(200, {"color": color, "stats": self.stats.record(color)})

    def reply(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def serve(host: str, port: int, teller: str, uid: int | None = None) -> None:
    handler = type("Handler", (GatewayHandler,), {"teller": teller, "stats": Stats()})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    drop_to(uid)
    print(f"colorgateway listening on {host}:{port}, teller {teller}", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("SERVER_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SERVER_PORT", "9080")))
    parser.add_argument("--uid", type=int, default=None, help="run as this uid/gid after binding (when root)")
    args = parser.parse_args()
    serve(args.host, args.port, os.environ.get("COLOR_TELLER_ENDPOINT", DEFAULT_TELLER), args.uid)


if __name__ == "__main__":
    main()
