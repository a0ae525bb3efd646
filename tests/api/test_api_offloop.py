"""A write's validation and translation run off the event loop: reads answer during a slow write.

The translator seam blocks the write inside translation (a threading.Event) while this test
asks the API and the debug endpoint from another thread; they must answer before the write is
let go. On a loop blocked by the write they would time out (generous bounds, no timing asserts).
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from pathlib import Path

from proxyinit.controlplane.plane import ControlPlane
from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds.endpoint import Endpoint

NODE = "mesh/default/virtualNode/slow-vn"


class BlockingTranslator:
    """translate_node, except that translating `NODE` waits until `release` is set."""

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, model, node, **options):
        if str(node) == NODE:
            self.entered.set()
            self.release.wait(20)
        return translate_node(model, node, **options)


def _get(port: int, path: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status


def _create_slow_node(port: int) -> int:
    body = json.dumps(
        {
            "virtualNodeName": "slow-vn",
            "spec": {
                "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": "slow.local"}},
            },
        }
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v20190125/meshes/default/virtualNodes",
        data=body,
        method="PUT",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def _reads_during_write(plane: ControlPlane, translate: BlockingTranslator) -> dict:
    """In a thread: start the slow write, read while it is blocked, then let it finish."""
    out: dict = {}
    writer = threading.Thread(
        target=lambda: out.__setitem__("write", _create_slow_node(plane.api.port))
    )
    writer.start()
    try:
        assert translate.entered.wait(10), "the write never reached translation"
        for name, port, path in (
            ("describe", plane.api.port, "/v20190125/meshes/default"),
            ("debug", plane.debug_server.port, "/"),
        ):
            try:
                out[name] = _get(port, path)
            except OSError as err:  # a timeout: the loop is blocked by the write
                out[name] = repr(err)
        out["still_writing"] = writer.is_alive()
    finally:
        translate.release.set()
        writer.join(30)
    return out


async def test_api_and_debug_answer_while_a_write_is_translated(tmp_path: Path):
    translate = BlockingTranslator()
    plane = ControlPlane(
        Endpoint("127.0.0.1", 0),
        db=str(tmp_path / "m.db"),
        api=Endpoint("127.0.0.1", 0),
        debug=Endpoint("127.0.0.1", 0),
        translate=translate,
    )
    async with plane:
        await plane.store.create(plane_key("Mesh", "default"), {})
        out = await asyncio.wait_for(asyncio.to_thread(_reads_during_write, plane, translate), 60)
    assert out == {"describe": 200, "debug": 200, "still_writing": True, "write": 200}


def plane_key(kind: str, name: str):
    from proxyinit.store.base import Key

    return Key(kind, name, "", name)
