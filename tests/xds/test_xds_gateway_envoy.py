"""A virtual gateway's Envoy on loopback (issue 9): a request through the gateway reaches the
target virtual service's node, and the app receives the path and host App Mesh's rewrites make:
the default (host -> the service's name, the matched prefix -> `/`) and explicit ones, for a
service provided by a node and one provided by a router; hostname matches ignore case and port.

No iptables: a gateway is an Envoy-only service; its listener is moved from 0.0.0.0 to loopback
on the same (free) port. The target node's DNS hostname is 127.0.0.2, where an app echoes the
path and Host it received.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import urllib.error
import urllib.request

import pytest

from proxyinit.mesh.runtime.envoy import EnvoyProcess
from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds import types
from tests.support.http_app import http_app
from tests.support.loopback import free_port
from tests.xds.test_xds_parity_envoy import running_node

pytestmark = pytest.mark.envoy

MESH = "ingress"
GATEWAY = f"mesh/{MESH}/virtualGateway/ingress-gw"
SERVICE = "echo.ingress.local"
APP_HOST = "127.0.0.2"
ROUTED = "routed.ingress.local"


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # http.server's name
        body = json.dumps({"path": self.path, "host": self.headers.get("host")}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def echoing(port: int):
    return http_app(APP_HOST, port, _Echo)


def _route(
    name: str, match: dict, priority: int | None = None, service: str = SERVICE, **action
) -> dict:
    spec = {
        "httpRoute": {
            "match": match,
            "action": {"target": {"virtualService": {"virtualServiceName": service}}, **action},
        }
    }
    if priority is not None:
        spec["priority"] = priority
    return {
        "meshName": MESH,
        "virtualGatewayName": "ingress-gw",
        "gatewayRouteName": name,
        "spec": spec,
    }


def mesh(gateway_port: int, app_port: int) -> list[dict]:
    return [
        {"meshName": MESH},
        {
            "meshName": MESH,
            "virtualNodeName": "echo-vn",
            "spec": {
                "listeners": [{"portMapping": {"port": app_port, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": APP_HOST}},
            },
        },
        {
            "meshName": MESH,
            "virtualServiceName": SERVICE,
            "spec": {"provider": {"virtualNode": {"virtualNodeName": "echo-vn"}}},
        },
        {
            "meshName": MESH,
            "virtualGatewayName": "ingress-gw",
            "spec": {"listeners": [{"portMapping": {"port": gateway_port, "protocol": "http"}}]},
        },
        _route("chapter", {"prefix": "/chapter"}),
        _route(
            "keep",
            {"prefix": "/keep/"},
            priority=0,
            rewrite={
                "prefix": {"value": "/v2/"},
                "hostname": {"defaultTargetHostname": "DISABLED"},
            },
        ),
        _route("old", {"path": {"exact": "/old"}}, rewrite={"path": {"exact": "/new"}}),
        _route("host", {"prefix": "/host/", "hostname": {"exact": "shop.example.com"}}),
        # A service provided by a virtual router: the router's route picks the node.
        {
            "meshName": MESH,
            "virtualRouterName": "echo-vr",
            "spec": {"listeners": [{"portMapping": {"port": app_port, "protocol": "http"}}]},
        },
        {
            "meshName": MESH,
            "virtualRouterName": "echo-vr",
            "routeName": "all",
            "spec": {
                "httpRoute": {
                    "match": {"prefix": "/"},
                    "action": {"weightedTargets": [{"virtualNode": "echo-vn", "weight": 1}]},
                }
            },
        },
        {
            "meshName": MESH,
            "virtualServiceName": ROUTED,
            "spec": {"provider": {"virtualRouter": {"virtualRouterName": "echo-vr"}}},
        },
        _route("routed", {"prefix": "/routed/"}, service=ROUTED),
    ]


def _on_loopback(model, node):
    resources = translate_node(model, node)
    for listener in resources[types.LISTENER]:
        listener.address.socket_address.address = "127.0.0.1"
    return resources


def _get(port: int, path: str, host: str) -> dict | int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code


async def _eventually(check, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = await asyncio.to_thread(check)
        except OSError:
            result = None  # the gateway listener is not there yet
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_the_app_behind_a_gateway_receives_the_rewritten_path_and_host(tmp_path):
    gateway_port, app_port = free_port(), free_port()
    envoy = EnvoyProcess()
    with echoing(app_port):
        async with running_node(
            tmp_path, envoy, mesh(gateway_port, app_port), GATEWAY, _on_loopback
        ):
            seen = await _eventually(
                lambda: _get(gateway_port, "/chapter/1?q=2", "shop.example.com")
            )
            # App Mesh's defaults: host -> the target service, matched prefix -> "/".
            assert seen == {"path": "/1?q=2", "host": SERVICE}
            assert _get(gateway_port, "/chapter", "shop.example.com") == {
                "path": "/",
                "host": SERVICE,
            }
            # Explicit rewrites: prefix value, hostname kept; an exact path rewritten.
            assert _get(gateway_port, "/keep/x", "shop.example.com") == {
                "path": "/v2/x",
                "host": "shop.example.com",
            }
            assert _get(gateway_port, "/old", "a.example.com") == {"path": "/new", "host": SERVICE}
            assert _get(gateway_port, "/routed/x", "a.example.com") == {
                "path": "/x",
                "host": ROUTED,
            }
            # A hostname match ignores case and the port; another host does not match.
            assert _get(gateway_port, "/host/a", "Shop.Example.com:1234") == {
                "path": "/a",
                "host": SERVICE,
            }
            assert _get(gateway_port, "/host/a", "other.example.com") == 404
            assert _get(gateway_port, "/elsewhere", "a.example.com") == 404
