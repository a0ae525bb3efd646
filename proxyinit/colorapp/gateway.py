"""colorgateway: `GET /color` asks COLOR_TELLER_ENDPOINT (a name, as in the walkthrough) for a
color, records it and returns `{"color": c, "stats": {color: fraction}}`; `GET /color/clear`
resets the stats; `GET /ping` for health."""

from __future__ import annotations

import functools
import json
import os
import threading
import urllib.request
from collections import Counter

from proxyinit.colorapp.base import AppHandler, serve, server_args

DEFAULT_TELLER = "colorteller.default.svc.cluster.local:9080"


# Straight to the name, whatever http_proxy says: the mesh is the proxy.
@functools.cache
def direct() -> urllib.request.OpenerDirector:
    """An opener that ignores http_proxy and friends."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


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


class GatewayHandler(AppHandler):
    teller = DEFAULT_TELLER
    stats = Stats()

    def do_GET(self) -> None:
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
            with direct().open(f"http://{self.teller}/", timeout=5) as response:
                color = response.read().decode().strip()
        except OSError as err:
            self.reply(502, {"error": f"colorteller: {err}"})
            return
        self.reply(200, {"color": color, "stats": self.stats.record(color)})

    def reply(self, status: int, payload: dict) -> None:
        self.send_body(status, json.dumps(payload).encode(), "application/json")


def run(host: str, port: int, teller: str, uid: int | None = None) -> None:
    handler = type("Handler", (GatewayHandler,), {"teller": teller, "stats": Stats()})
    serve(handler, host, port, uid, f"colorgateway (teller {teller})")


def main() -> None:
    args = server_args(__doc__)
    run(args.host, args.port, os.environ.get("COLOR_TELLER_ENDPOINT", DEFAULT_TELLER), args.uid)


if __name__ == "__main__":
    main()
