"""bench.feature_push measures the real path: both of its changes reach every stream.

Run at a small size (8 nodes, 101 streams, one change of each kind); nothing here is timed. The
Cloud Map change must go through the plane's own discovery (CloudMapDiscovery's refresh and the
publisher's `enrich`), as a real answer change does: answers added inside a translator wrapper
are invisible to the incremental publisher, so the change did not reach node n0's EDS.
"""

from __future__ import annotations

import pytest

from bench.feature_push import bench

pytestmark = pytest.mark.timeout(60)


async def test_both_changes_reach_every_stream_of_n0(tmp_path):
    # 101 streams: more than the plane serves on one connection (ServeLimits, 100).
    result = await bench(nodes=8, n=101, changes=1, workdir=tmp_path)
    assert len(result["route"]) == 1 and len(result["cloud"]) == 1, result
    assert result["names"]["eds"], "n0 subscribes no Cloud Map cluster: nothing was measured"


def test_the_timed_route_change_moves_one_route_weight_only():
    """feature_mesh(n, weight, backends, before): `before` passed third was the backend count,
    so the "route change" also dropped every node's backends."""
    from bench.feature_push import route_change
    from bench.translate import MESH, feature_mesh
    from proxyinit.controlplane.incremental import changed_keys
    from proxyinit.mesh.model.meshfile import parse_resources

    for before in (False, True):
        served = parse_resources(feature_mesh(8, before=before))[MESH]
        keys, _ = changed_keys(served, route_change(8, 0, before))
        assert keys == {("routes", "r1")}, (before, keys)  # router r1's routes
