"""Snapshot: consistency checks and content-hash versions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from envoy.config.cluster.v3 import cluster_pb2

from proxyinit.errors import ConfigError
from proxyinit.xds import types
from proxyinit.xds.snapshot import InconsistentSnapshotError, Snapshot
from tests.xds.xds_testlib import (
    http_listener,
    node_resources,
    static_cluster,
    tcp_listener,
    weighted_route_config,
)


def test_consistent_snapshot_has_a_version_per_type():
    snapshot = Snapshot(node_resources("a"))
    assert set(snapshot.versions()) == set(types.PUSH_ORDER)
    assert list(snapshot.resources(types.ROUTE)) == ["a-routes"]


def test_version_ignores_input_order_and_changes_with_content():
    weights = {"c1": 1, "c2": 2}
    first = node_resources("a", weights)
    reordered = {url: list(reversed(items)) for url, items in first.items()}
    assert Snapshot(first).versions() == Snapshot(reordered).versions()
    changed = Snapshot(node_resources("a", {"c1": 8, "c2": 2}))
    assert changed.version(types.ROUTE) != Snapshot(first).version(types.ROUTE)
    assert changed.version(types.CLUSTER) == Snapshot(first).version(types.CLUSTER)


def test_version_is_stable_across_processes():
    """A restarted server must compute the same version for the same content (no hash seed)."""
    code = (
        "from tests.xds.xds_testlib import node_snapshot;"
        "print(node_snapshot('a', {'c1': 8, 'c2': 2}).versions())"
    )
    root = Path(__file__).resolve().parents[2]
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_snapshot_is_not_changed_by_later_mutation_of_the_input():
    resources = node_resources("a")
    snapshot = Snapshot(resources)
    before = snapshot.versions()
    resources[types.CLUSTER][0].connect_timeout.seconds = 42
    assert snapshot.versions() == before


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r[types.CLUSTER].pop(), "references missing cluster 'a-blue'"),
        (lambda r: r[types.ROUTE].clear(), "references missing route_config 'a-routes'"),
        (
            lambda r: r[types.LISTENER].append(tcp_listener("t", 1, "nope")),
            "listener 't' references missing cluster 'nope'",
        ),
        (lambda r: r[types.CLUSTER].append(static_cluster("a-blue", 1)), "duplicate"),
        (lambda r: r[types.CLUSTER].append(static_cluster("", 1)), "empty name"),
        (
            lambda r: r[types.CLUSTER].append(weighted_route_config("x", {"a-blue": 1})),
            "was given under type",
        ),
        (
            lambda r: r[types.CLUSTER].append(
                cluster_pb2.Cluster(name="eds", type=cluster_pb2.Cluster.EDS)
            ),
            "EDS cluster 'eds' has no ClusterLoadAssignment",
        ),
        (lambda r: r.__setitem__("type.googleapis.com/x.Y", []), "unknown resource type"),
    ],
)
def test_inconsistent_snapshots_are_refused(mutate, message):
    resources = node_resources("a")
    mutate(resources)
    with pytest.raises(InconsistentSnapshotError, match=message) as info:
        Snapshot(resources)
    assert isinstance(info.value, ConfigError)


def test_eds_cluster_with_assignment_is_consistent():
    from envoy.config.endpoint.v3 import endpoint_pb2

    resources = node_resources("a")
    resources[types.CLUSTER].append(cluster_pb2.Cluster(name="eds", type=cluster_pb2.Cluster.EDS))
    resources[types.ENDPOINT] = [endpoint_pb2.ClusterLoadAssignment(cluster_name="eds")]
    Snapshot(resources)


def test_weighted_route_to_missing_cluster_is_refused():
    resources = node_resources("a")
    resources[types.ROUTE] = [weighted_route_config("a-routes", {"a-blue": 1, "gone": 1})]
    with pytest.raises(
        InconsistentSnapshotError, match="route_config 'a-routes' references missing cluster 'gone'"
    ):
        Snapshot(resources)


def test_listener_without_route_reference_is_fine():
    Snapshot(
        {
            types.LISTENER: [http_listener("l", 1, "r")],
            types.ROUTE: [weighted_route_config("r", {})],
        }
    )
