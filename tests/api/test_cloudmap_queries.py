"""MeshQueries (controlplane/cloudmap_queries.py), followed through each write's delta, equals
`MeshModel.cloud_map_queries()` collected from every node."""

from __future__ import annotations

import random

from proxyinit.controlplane.cloudmap_queries import MeshQueries
from proxyinit.store import errors
from proxyinit.store.base import Key
from proxyinit.store.meshes import MeshStore
from proxyinit.store.sqlite import SqliteStore

MESH = "cm"


def node_spec(rng: random.Random) -> dict:
    if rng.random() < 0.3:
        discovery = {"dns": {"hostname": "x.local"}}
    else:
        discovery = {"awsCloudMap": {"namespaceName": "ns", "serviceName": f"s{rng.randrange(3)}"}}
    return {
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": discovery,
    }


async def test_queries_followed_write_by_write_equal_a_full_collection(tmp_path):
    rng = random.Random(3)
    store = MeshStore(SqliteStore(tmp_path / "m.db"))
    queries = MeshQueries()
    try:
        await store.create(Key("Mesh", MESH, "", MESH), {})
        for _ in range(60):
            key = Key("VirtualNode", MESH, "", f"n{rng.randrange(6)}")
            try:
                if key in store.records and rng.random() < 0.3:
                    await store.delete(key)
                elif key in store.records:
                    await store.update(key, node_spec(rng))
                else:
                    await store.create(key, node_spec(rng))
            except errors.InUse:
                continue
            model = store.meshes[MESH]
            assert queries.of(model) == model.cloud_map_queries()
        assert queries.of(model) and len(model.nodes) > 2  # exercised
    finally:
        store.store.close()
