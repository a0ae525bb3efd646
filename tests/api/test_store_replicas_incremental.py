"""Another replica's writes cost what they change (store/replica.py `absorb`).

Two or three MeshStores on one real PostgreSQL database, as `xds serve` replicas are: what one
commits, the others absorb through the incremental path a local write takes
(mesh/model/rebuild.py, controlplane/incremental.py), and that equals a full rebuild.
"""

from __future__ import annotations

import random

import pytest

from proxyinit.controlplane.publisher import SnapshotPublisher
from proxyinit.mesh.model.meshfile import load_mesh_file
from proxyinit.store import replica as replica_module
from proxyinit.store.base import Key
from proxyinit.store.meshes import MeshStore
from proxyinit.store.postgres import PostgresStore
from proxyinit.store.replica import catch_up
from proxyinit.xds.cache import SnapshotCache
from tests.api.test_store_incremental import (
    EXAMPLES,
    MESH,
    ROUTE,
    WEIGHT_CHANGE,
    CountingTranslator,
    _do,
    _random_write,
    full_translation,
    served_now,
    snapshots_of,
)

GATEWAY_NODE = "mesh/default/virtualNode/colorgateway-vn"


def replica(
    url: str, translate=None, incremental: bool = True
) -> tuple[MeshStore, SnapshotPublisher]:
    publisher = SnapshotPublisher(SnapshotCache(), *([translate] if translate else []))
    return MeshStore(PostgresStore(url), pipeline=publisher, incremental=incremental), publisher


async def test_a_remote_route_change_translates_only_the_nodes_routing_to_it(postgres_url):
    writer, _ = replica(postgres_url)
    translate = CountingTranslator()
    follower, publisher = replica(postgres_url, translate)
    try:
        await writer.apply(load_mesh_file(EXAMPLES / "mesh.yaml"))
        assert await catch_up(follower) == ["default"]
        before = follower.meshes["default"]
        snapshots = snapshots_of(publisher)
        translate.calls.clear()
        await writer.update(ROUTE, WEIGHT_CHANGE)
        assert await catch_up(follower) == ["default"]
        # As a local write (tests/api/test_store_incremental.py): only the node that reads the
        # route's router through a backend is translated again.
        assert translate.calls == [GATEWAY_NODE]
        after = follower.meshes["default"]
        assert after.nodes is before.nodes and after.services is before.services  # not rebuilt
        unchanged = [n for n in snapshots if publisher.cache.get_snapshot(n) is snapshots[n]]
        assert sorted(unchanged) == sorted(set(snapshots) - {GATEWAY_NODE})
        assert served_now(publisher) == full_translation(follower)
        assert follower.meshes == writer.meshes
    finally:
        writer.store.close()
        follower.store.close()


def count_rebuilds(store: MeshStore) -> list[int]:
    """How often the store's Rebuilder answered with a model (the incremental path was taken)."""
    rebuilt, rebuild = [0], store._rebuilder.rebuild

    def counting(*args):
        model = rebuild(*args)
        rebuilt[0] += model is not None
        return model

    store._rebuilder.rebuild = counting
    return rebuilt


@pytest.mark.parametrize("seed", range(6))
async def test_absorbing_random_remote_writes_equals_a_full_rebuild(
    postgres_url, seed, monkeypatch
):
    """Writes on one replica, absorbed a few at a time by an incremental follower and by one that
    builds whole: the same models and snapshots after each absorb, and those of a fresh
    translation. Odd seeds lower WHOLE_AFTER so that larger absorbs build whole in between."""
    if seed % 2:
        monkeypatch.setattr(replica_module, "WHOLE_AFTER", 2)
    writer, _ = replica(postgres_url)
    follower, publisher = replica(postgres_url)
    whole, whole_publisher = replica(postgres_url, incremental=False)
    rebuilt = count_rebuilds(follower)
    rng = random.Random(seed)
    try:
        await writer.create(Key("Mesh", MESH, "", MESH), {})
        for _ in range(30):
            for _ in range(rng.choice((1, 1, 2, 4))):
                await _do(writer, *_random_write(rng))
            await catch_up(follower)
            await catch_up(whole)
            assert follower.meshes == whole.meshes == writer.meshes
            assert served_now(publisher) == served_now(whole_publisher)
        assert served_now(publisher) == full_translation(follower)
        assert len(writer.records) > 5 and rebuilt[0] > 10
    finally:
        for each in (writer, follower, whole):
            each.store.close()


async def test_after_a_remote_change_that_does_not_validate_here_the_next_is_built_whole(
    postgres_url, monkeypatch
):
    """A mesh another replica stored that this one refuses (its code validates differently) keeps
    being served as it was; the next change must not be rebuilt from that stale model."""
    from proxyinit.store.errors import Invalid

    writer, _ = replica(postgres_url)
    follower, _ = replica(postgres_url)
    try:
        await writer.apply(load_mesh_file(EXAMPLES / "mesh.yaml"))
        await catch_up(follower)
        node = Key("VirtualNode", "default", "", "extra-vn")
        await writer.create(node, {"serviceDiscovery": {"dns": {"hostname": "extra.local"}}})
        rebuilt = replica_module._rebuilt

        def refuse(store, mesh, puts, deletes):
            raise Invalid("stricter here")

        monkeypatch.setattr(replica_module, "_rebuilt", refuse)
        await catch_up(follower)
        assert node in follower.records and "default" not in follower.meshes  # not validated
        monkeypatch.setattr(replica_module, "_rebuilt", rebuilt)
        await writer.update(
            ROUTE,
            {
                "httpRoute": {
                    "match": {"prefix": "/"},
                    "action": {
                        "weightedTargets": [{"virtualNode": "colorteller-red-vn", "weight": 1}]
                    },
                }
            },
        )
        await catch_up(follower)
        assert follower.meshes == writer.meshes
    finally:
        writer.store.close()
        follower.store.close()
