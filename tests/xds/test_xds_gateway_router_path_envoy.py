"""A router route's path behind a virtual gateway, through the gateway's real Envoy (issue 9):
App Mesh applied the router's prefix to the path the gateway forwards (howto-ingress-enhancements
routes `/tell` behind its gateway). echo-vn (127.0.0.2) and tell-vn (127.0.0.8) both echo the path
they get; the router sends `/tell...` to tell-vn and the rest to echo-vn.
"""

from __future__ import annotations

import json

from proxyinit.mesh.runtime.envoy import EnvoyProcess
from tests.support.http_app import http_app
from tests.support.loopback import free_port
from tests.xds.test_xds_gateway_envoy import (
    GATEWAY,
    MESH,
    ROUTED,
    _Echo,
    _eventually,
    _get,
    _on_loopback,
    _route,
    echoing,
    mesh,
)
from tests.xds.test_xds_parity_envoy import running_node

TELL_HOST = "127.0.0.8"


class _Tell(_Echo):
    def do_GET(self):  # http.server's name
        body = json.dumps({"tell": self.path}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def telling(port: int):
    return http_app(TELL_HOST, port, _Tell)


def _with_tell(gateway_port: int, app_port: int) -> list[dict]:
    listener = {"portMapping": {"port": app_port, "protocol": "http"}}
    tell = {"weightedTargets": [{"virtualNode": "tell-vn", "weight": 1}]}
    return [
        *mesh(gateway_port, app_port),
        {
            "meshName": MESH,
            "virtualNodeName": "tell-vn",
            "spec": {"listeners": [listener], "serviceDiscovery": {"dns": {"hostname": TELL_HOST}}},
        },
        {
            "meshName": MESH,
            "virtualRouterName": "echo-vr",
            "routeName": "tell",
            "spec": {"httpRoute": {"match": {"prefix": "/tell"}, "action": tell}},
        },
        _route("red", {"prefix": "/red/"}, service=ROUTED, rewrite={"prefix": {"value": "/tell/"}}),
    ]


async def test_a_router_prefix_behind_a_gateway_applies_to_the_forwarded_path(tmp_path):
    gateway_port, app_port = free_port(), free_port()
    envoy = EnvoyProcess()
    resources = _with_tell(gateway_port, app_port)
    with echoing(app_port), telling(app_port):
        async with running_node(tmp_path, envoy, resources, GATEWAY, _on_loopback):
            host = "a.example.com"
            # /routed/ is rewritten to /: /routed/tell/1 is forwarded as /tell/1, tell-vn's.
            assert await _eventually(lambda: _get(gateway_port, "/routed/tell/1", host)) == {
                "tell": "/tell/1"
            }
            assert _get(gateway_port, "/routed/x", host) == {"path": "/x", "host": ROUTED}
            # /red/ is rewritten to /tell/: always tell-vn's.
            assert _get(gateway_port, "/red/1", host) == {"tell": "/tell/1"}
