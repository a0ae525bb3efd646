"""The walkthrough apps on loopback: teller answers its color, gateway asks it and keeps stats."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer

import pytest

from proxyinit.colorapp.gateway import GatewayHandler, Stats
from proxyinit.colorapp.teller import TellerHandler


@pytest.fixture
def server():
    started = []

    def start(handler) -> str:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
        return f"127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_teller_answers_its_color_and_ping(server):
    teller = server(type("H", (TellerHandler,), {"color": "blue"}))
    assert get(f"http://{teller}/") == (200, b"blue")
    assert get(f"http://{teller}/ping")[0] == 200
    assert get(f"http://{teller}/nope")[0] == 404


def test_gateway_records_stats_and_clears(server):
    blue = server(type("H", (TellerHandler,), {"color": "blue"}))
    gateway = server(type("G", (GatewayHandler,), {"teller": blue, "stats": Stats()}))
    for _ in range(3):
        status, body = get(f"http://{gateway}/color")
    assert status == 200 and json.loads(body) == {"color": "blue", "stats": {"blue": 1.0}}
    assert json.loads(get(f"http://{gateway}/color/clear")[1]) == {"cleared": True}


def test_gateway_reports_an_unreachable_teller(server):
    gateway = server(type("G", (GatewayHandler,), {"teller": "127.0.0.1:9", "stats": Stats()}))
    status, body = get(f"http://{gateway}/color")
    assert status == 502 and "colorteller" in json.loads(body)["error"]


def test_stats_fractions():
    stats = Stats()
    for color in ("blue", "blue", "blue", "red"):
        shares = stats.record(color)
    assert shares == {"blue": 0.75, "red": 0.25}
