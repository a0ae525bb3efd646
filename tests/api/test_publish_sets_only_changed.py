"""A write sets in the cache only the nodes it translated again, and wakes only those whose
snapshot changed (controlplane/publisher.py `_swap`): the cache's calls are counted."""

from __future__ import annotations

import pytest

from proxyinit.controlplane.publisher import SnapshotPublisher
from proxyinit.store.base import Key
from proxyinit.store.meshes import MeshStore
from proxyinit.store.sqlite import SqliteStore
from proxyinit.xds.cache import SnapshotCache

MESH = "few"
NAMES = ("a", "b", "c", "d", "e")


class CountingCache(SnapshotCache):
    """A SnapshotCache that notes the node of each set_snapshot/clear_snapshot call."""

    def __init__(self):
        super().__init__()
        self.sets: list[str] = []
        self.clears: list[str] = []

    def set_snapshot(self, node_id, snapshot):
        self.sets.append(node_id)
        return super().set_snapshot(node_id, snapshot)

    def clear_snapshot(self, node_id):
        self.clears.append(node_id)
        return super().clear_snapshot(node_id)


def node_spec(name: str, port: int = 8080) -> dict:
    return {
        "listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": f"{name}.local"}},
        "backends": [{"virtualService": {"virtualServiceName": "a.svc"}}] if name == "b" else [],
    }


def node(name: str) -> str:
    return f"mesh/{MESH}/virtualNode/{name}"


@pytest.fixture
async def mesh(tmp_path):
    cache = CountingCache()
    store = MeshStore(SqliteStore(tmp_path / "m.db"), pipeline=SnapshotPublisher(cache))
    await store.create(Key("Mesh", MESH, "", MESH), {})
    for name in NAMES:
        await store.create(Key("VirtualNode", MESH, "", name), node_spec(name))
        provider = {"provider": {"virtualNode": {"virtualNodeName": name}}}
        await store.create(Key("VirtualService", MESH, "", f"{name}.svc"), provider)
    woken: list[str] = []
    for name in (*NAMES, "f"):
        cache.subscribe(node(name), lambda name=name: woken.append(node(name)))
    cache.sets.clear()
    cache.clears.clear()
    yield store, cache, woken
    store.store.close()


async def test_a_node_update_sets_and_wakes_only_the_nodes_it_changes(mesh):
    store, cache, woken = mesh
    await store.update(Key("VirtualNode", MESH, "", "c"), node_spec("c", 9090))
    assert cache.sets == [node("c")] and woken == [node("c")] and cache.clears == []
    # a's port: b (its backend a.svc is provided by a) is translated again too
    await store.update(Key("VirtualNode", MESH, "", "a"), node_spec("a", 9090))
    assert sorted(cache.sets[1:]) == [node("a"), node("b")]
    assert sorted(woken[1:]) == [node("a"), node("b")]


async def test_a_create_and_a_delete_touch_only_that_node(mesh):
    store, cache, woken = mesh
    await store.create(Key("VirtualNode", MESH, "", "f"), node_spec("f"))
    assert cache.sets == [node("f")] and woken == [node("f")]
    await store.delete(Key("VirtualNode", MESH, "", "f"))
    assert cache.sets == [node("f")] and cache.clears == [node("f")]
    assert woken == [node("f"), node("f")]
    assert cache.node_ids() == sorted(node(name) for name in NAMES)


async def test_a_write_that_changes_no_snapshot_wakes_nobody(mesh):
    store, cache, woken = mesh
    # A service nobody names: no node read it, none is translated or set.
    await store.create(Key("VirtualService", MESH, "", "unused.svc"), {})
    assert cache.sets == [] and woken == []
