"""The App Mesh controller's manifests as `--mesh-file`, served to a real Envoy (loopback)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.controlplane.plane import ControlPlane
from proxyinit.mesh.runtime.envoy import EnvoyProcess, find_envoy_binary
from proxyinit.xds import types
from proxyinit.xds.endpoint import Endpoint
from tests.support.loopback import loopback_translator
from tests.support.xds_watch import watch

pytestmark = pytest.mark.envoy

HOWTO = Path(__file__).resolve().parents[1] / "data" / "k8s" / "howto-k8s.yaml"
FRONT = "mesh/howto-mesh/virtualNode/front_howto"


async def test_envoy_acks_the_config_translated_from_manifests(tmp_path):
    find_envoy_binary()
    mesh_file = tmp_path / "manifests.yaml"
    shutil.copy(HOWTO, mesh_file)
    control_plane = ControlPlane(
        Endpoint(host="127.0.0.1", port=0),
        mesh_file=FileMeshSource(mesh_file, interval=0.02),
        debug=Endpoint(host="127.0.0.1", port=0),
        translate=loopback_translator(),
    )
    watcher = watch(control_plane.ads, control_plane.registry)
    async with control_plane:
        envoy = EnvoyProcess()
        try:
            await envoy.start_node(FRONT, f"127.0.0.1:{control_plane.xds_port}")
            snapshot = control_plane.cache.get_snapshot(FRONT)
            version = snapshot.version(types.ROUTE)
            await watcher.wait_until(
                lambda streams: any(
                    s.node_id == FRONT and s.types[types.ROUTE].acked_version == version
                    for s in streams
                ),
                10,
            )
            status, body = await envoy.admin_get("/config_dump")
            assert status == 200
            body = body.decode() if isinstance(body, bytes) else body
            # The router's 8/2 split reaches the nodes the controller named blue_howto and red-vn.
            assert "cds_egress_howto-mesh_blue_howto_http_8080" in body
            assert "cds_egress_howto-mesh_red-vn_http_8080" in body
        finally:
            await envoy.stop()
