"""The control plane: mesh source, publisher, cache, debug endpoint and the `xds serve` command."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.controlplane.plane import ControlPlane
from proxyinit.controlplane.publisher import SnapshotPublisher
from proxyinit.errors import ConfigError
from proxyinit.xds import types
from proxyinit.xds.cache import SnapshotCache
from proxyinit.xds.debug import DebugServer
from proxyinit.xds.endpoint import Endpoint, parse_endpoint
from proxyinit.xds.server import StreamRegistry
from tests.support.serve import proxyinit_command
from tests.xds.xds_testlib import node_snapshot

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "colorapp"
NODES = {
    f"mesh/default/virtualNode/{n}"
    for n in ("colorgateway-vn", "colorteller-vn", "colorteller-blue-vn", "colorteller-red-vn")
} | {"mesh/default/virtualGateway/colorapp-gw"}  # the walkthrough's ingress gateway
GATEWAY = "mesh/default/virtualNode/colorgateway-vn"


def test_cache_same_content_does_not_wake_watchers():
    cache = SnapshotCache()
    woken: list[str] = []
    cache.subscribe("a", lambda: woken.append("a"))
    cache.subscribe("b", lambda: woken.append("b"))
    assert cache.set_snapshot("a", node_snapshot("x"))
    assert not cache.set_snapshot("a", node_snapshot("x"))
    assert cache.set_snapshot("a", node_snapshot("x", {"x-blue": 1, "x-red": 1}))
    assert woken == ["a", "a"]


def test_publisher_snapshots_every_virtual_node_of_the_colorapp():
    from proxyinit.mesh.model.meshfile import load_mesh_file

    cache = SnapshotCache()
    changed = SnapshotPublisher(cache).replace(load_mesh_file(EXAMPLES / "mesh.yaml"))
    assert set(changed) == NODES == set(cache.node_ids())
    routes = cache.get_snapshot(GATEWAY).resources(types.ROUTE)
    assert "rds_egress_http_9080" in routes


def test_translated_snapshot_versions_survive_a_restart():
    """Same mesh file, fresh processes, different hash seeds: same versions for every node."""
    code = (
        "from proxyinit.mesh.model.meshfile import load_mesh_file;"
        "from proxyinit.xds.cache import SnapshotCache;"
        "from proxyinit.controlplane.publisher import SnapshotPublisher;"
        "c = SnapshotCache(); SnapshotPublisher(c).replace(load_mesh_file({!r}));"
        "print(sorted((n, sorted(c.get_snapshot(n).versions().items())) for n in c.node_ids()))"
    ).format(str(EXAMPLES / "route-blue-red.yaml"))
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_publisher_refuses_the_whole_edit_if_one_node_fails():
    from proxyinit.mesh.model.meshfile import load_mesh_file

    cache = SnapshotCache()
    publisher = SnapshotPublisher(cache)
    publisher.replace(load_mesh_file(EXAMPLES / "mesh.yaml"))
    before = {node: cache.get_snapshot(node) for node in cache.node_ids()}

    def broken(model, node):
        if node.node == "colorteller-red-vn":
            raise ConfigError("cannot translate")
        from proxyinit.mesh.translate.node import translate_node

        return translate_node(model, node)

    publisher.translate = broken
    with pytest.raises(ConfigError) as info:
        publisher.replace(load_mesh_file(EXAMPLES / "route-blue-red.yaml"))
    assert "virtual node mesh/default/virtualNode/colorteller-red-vn: cannot translate" in str(
        info.value
    )
    assert {node: cache.get_snapshot(node) for node in cache.node_ids()} == before


def test_file_source_yields_valid_edits_and_refuses_invalid_ones(tmp_path, caplog):
    mesh_file = tmp_path / "mesh.yaml"
    shutil.copy(EXAMPLES / "mesh.yaml", mesh_file)
    source = FileMeshSource(mesh_file)
    assert set(source.load()) == {"default"}
    assert source.poll() is None  # unchanged
    os.utime(mesh_file)  # touched, same bytes
    assert source.poll() is None
    mesh_file.write_text("- meshName: default\n  virtualNodeName: [broken\n")
    assert source.poll() is None
    assert "mesh edit refused, the last good mesh keeps serving" in caplog.text
    shutil.copy(EXAMPLES / "route-blue-red.yaml", mesh_file)
    meshes = source.poll()
    assert meshes is not None and "colorteller-blue-vn" in meshes["default"].nodes


async def test_debug_endpoint_is_read_only_json():
    cache = SnapshotCache()
    cache.set_snapshot(GATEWAY, node_snapshot("g"))
    server = DebugServer(cache, StreamRegistry())
    await server.start()
    try:

        def fetch(path, method="GET"):
            request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", method=method)
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status, json.load(response)
            except urllib.error.HTTPError as err:
                return err.code, json.load(err)

        status, body = await asyncio.to_thread(fetch, "/")
        assert status == 200
        assert body["nodes"][GATEWAY]["connected"] is False
        assert body["nodes"][GATEWAY]["snapshot"]["RDS"] == cache.get_snapshot(GATEWAY).version(
            types.ROUTE
        )
        assert (await asyncio.to_thread(fetch, "/nope"))[0] == 404
        assert (await asyncio.to_thread(fetch, "/", "POST"))[0] == 405
    finally:
        await server.stop()


async def test_control_plane_pushes_file_edits(tmp_path):
    mesh_file = tmp_path / "mesh.yaml"
    shutil.copy(EXAMPLES / "mesh.yaml", mesh_file)
    plane = ControlPlane(Endpoint("127.0.0.1", 0), mesh_file=FileMeshSource(mesh_file, 0.01))
    async with plane:
        before = plane.cache.get_snapshot(GATEWAY).version(types.ROUTE)
        shutil.copy(EXAMPLES / "route-blue-red.yaml", mesh_file)
        for _ in range(200):
            if plane.cache.get_snapshot(GATEWAY).version(types.ROUTE) != before:
                break
            await asyncio.sleep(0.01)
        assert plane.cache.get_snapshot(GATEWAY).version(types.ROUTE) != before


async def test_control_plane_start_fails_on_a_bad_mesh(tmp_path):
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text("{not: a list}")
    with pytest.raises(ConfigError, match=r"mesh\.yaml"):
        async with ControlPlane(Endpoint("127.0.0.1", 0), mesh_file=FileMeshSource(mesh_file)):
            pass


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("127.0.0.1:15010", Endpoint("127.0.0.1", 15010)),
        ("[::1]:15010", Endpoint("::1", 15010)),
        ("unix:///run/xds.sock", Endpoint(unix_path="/run/xds.sock")),
    ],
)
def test_endpoint_parsing(raw, expected):
    assert parse_endpoint(raw, "--xds") == expected


@pytest.mark.parametrize("raw", ["15010", "::1:15010", "host:http", "host:0", "unix://x"])
def test_bad_endpoints_name_the_flag(raw):
    with pytest.raises(ConfigError, match="--xds="):
        parse_endpoint(raw, "--xds")


def run_proxyinit(*args, **kwargs):
    return subprocess.Popen(
        proxyinit_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_serve_exits_2_on_a_bad_mesh_file(tmp_path):
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text(
        "- meshName: default\n  virtualNodeName: x\n  spec: {listeners: [{portMapping: {port: 0, protocol: http}}]}\n"
    )
    process = run_proxyinit("xds", "serve", "--mesh-file", str(mesh_file), "--xds", "127.0.0.1:0")
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "proxyinit: error:" in stderr and "port" in stderr


def test_serve_exits_2_when_certs_is_not_a_directory(tmp_path):
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text("- meshName: default\n")
    missing = str(tmp_path / "no-certs")
    process = run_proxyinit(
        "xds", "serve", "--mesh-file", str(mesh_file), "--xds", "127.0.0.1:0", "--certs", missing
    )
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "--certs" in stderr and "no-certs" in stderr


def test_serve_over_a_unix_socket_stops_on_sigterm(tmp_path):
    socket_path = tmp_path / "xds.sock"
    process = run_proxyinit(
        "xds", "serve", "--mesh-file", str(EXAMPLES / "mesh.yaml"), "--xds", f"unix://{socket_path}"
    )
    try:
        deadline = time.monotonic() + 20
        while not socket_path.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        assert socket_path.exists(), (
            process.stderr.read() if process.poll() is not None else "no socket"
        )
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
        assert "xds ADS server on unix://" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_file_source_refuses_an_empty_file_mid_rewrite(tmp_path, caplog):
    mesh_file = tmp_path / "mesh.yaml"
    shutil.copy(EXAMPLES / "mesh.yaml", mesh_file)
    source = FileMeshSource(mesh_file)
    source.load()
    mesh_file.write_text("")  # what a reader sees between truncate and write
    assert source.poll() is None
    assert "is empty" in caplog.text


def test_file_source_sees_a_same_size_edit_within_one_mtime_tick(tmp_path):
    mesh_file = tmp_path / "mesh.yaml"
    text = (EXAMPLES / "mesh.yaml").read_text()
    mesh_file.write_text(text)
    source = FileMeshSource(mesh_file)
    source.load()
    before = os.stat(mesh_file)
    assert "weight: 1}" in text
    mesh_file.write_text(text.replace("weight: 1}", "weight: 2}"))  # same size, same inode
    os.utime(
        mesh_file, ns=(before.st_atime_ns, before.st_mtime_ns)
    )  # as a coarse clock would leave it
    meshes = source.poll()
    assert meshes is not None
    route = meshes["default"].routes["colorteller-vr"][0]
    assert route.spec.body.action.weighted_targets[0].weight == 2


async def test_an_api_write_translates_its_mesh_once_and_publishes_what_it_prepared(tmp_path):
    """validate -> prepare -> commit -> publish: one translation of each node the write affects
    (not of other nodes or meshes), and the snapshots served are the very ones prepared."""
    import yaml

    from proxyinit.mesh.model.meshfile import parse_resources
    from proxyinit.mesh.translate.node import translate_node
    from proxyinit.store.base import Key
    from proxyinit.store.meshes import MeshStore
    from proxyinit.store.sqlite import SqliteStore

    items = yaml.safe_load((EXAMPLES / "mesh.yaml").read_text())
    other = [{**item, "meshName": "other"} for item in items]
    calls: list[str] = []

    def counting(model, node):
        calls.append(f"{model.name}/{node.node}")
        return translate_node(model, node)

    cache = SnapshotCache()
    publisher = SnapshotPublisher(cache, counting)
    prepared: list = []
    real_prepare = publisher.prepare

    def recording_prepare(meshes):
        prepared.append(real_prepare(meshes))
        return prepared[-1]

    publisher.prepare = recording_prepare
    store = MeshStore(SqliteStore(str(tmp_path / "mesh.db")), pipeline=publisher)
    try:
        await store.apply({**parse_resources(items), **parse_resources(other)})
        # 4 nodes and the ingress gateway in each mesh, once each
        assert len(calls) == 10 and len(set(calls)) == 10
        calls.clear()
        spec = {
            "listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": "extra.other.svc.cluster.local"}},
        }
        await store.create(Key("VirtualNode", "other", "", "extra-vn"), spec)
        # Only the new node: no other node reads it (controlplane/incremental.py).
        assert calls == ["other/extra-vn"]
        served = cache.get_snapshot("mesh/other/virtualNode/extra-vn")
        assert served is prepared[-1]["other"]["mesh/other/virtualNode/extra-vn"]
    finally:
        store.store.close()


async def test_a_stored_mesh_that_no_longer_translates_is_not_served_the_rest_are(tmp_path, caplog):
    """After an upgrade a stored mesh may validate and still fail translation: the control plane
    starts, serves the other meshes and says which one it cannot serve."""
    import yaml

    from proxyinit.mesh.model.meshfile import parse_resources
    from proxyinit.mesh.translate.node import translate_node
    from proxyinit.store.meshes import MeshStore
    from proxyinit.store.sqlite import SqliteStore

    items = yaml.safe_load((EXAMPLES / "mesh.yaml").read_text())
    other = [{**item, "meshName": "other"} for item in items]
    store = MeshStore(SqliteStore(str(tmp_path / "mesh.db")))
    await store.apply({**parse_resources(items), **parse_resources(other)})
    store.store.close()

    def broken(model, node):
        if model.name == "other":
            raise ConfigError("cannot translate")
        return translate_node(model, node)

    plane = ControlPlane(Endpoint("127.0.0.1", 0), db=str(tmp_path / "mesh.db"), translate=broken)
    async with plane:
        assert set(plane.cache.node_ids()) == NODES
    assert "stored mesh 'other' cannot be served" in caplog.text
