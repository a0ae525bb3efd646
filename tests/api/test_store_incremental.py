"""A write translates only the nodes it affects, and that equals translating the whole mesh.

The store's publisher keeps what each node's translation read (controlplane/incremental.py);
these tests count translations through the translator seam and compare every served snapshot
with a full translation from scratch, after each of a random sequence of writes.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from proxyinit.controlplane.incremental import changed_keys
from proxyinit.controlplane.publisher import SnapshotPublisher
from proxyinit.mesh.model.meshfile import load_mesh_file
from proxyinit.mesh.translate.node import translate_node
from proxyinit.store import errors
from proxyinit.store.base import Key
from proxyinit.store.meshes import MeshStore
from proxyinit.store.sqlite import SqliteStore
from proxyinit.xds.cache import SnapshotCache

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "colorapp"
ROUTE = Key("Route", "default", "colorteller-vr", "colorteller-route")
MESH = "rand"


class CountingTranslator:
    """translate_node, remembering which nodes it was asked for."""

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, model, node, **options):
        self.calls.append(str(node))
        return translate_node(model, node, **options)


@pytest.fixture
async def served(tmp_path):
    translate = CountingTranslator()
    publisher = SnapshotPublisher(SnapshotCache(), translate)
    opened = MeshStore(SqliteStore(tmp_path / "m.db"), pipeline=publisher)
    yield opened, publisher, translate
    opened.store.close()


def full_translation(store: MeshStore) -> dict[str, dict[str, str]]:
    """{node id: {type: version}} of every node, translated from scratch."""
    fresh = SnapshotPublisher(SnapshotCache())
    prepared = fresh.prepare(dict(store.meshes))
    return {
        node: snapshot.versions()
        for snapshots in prepared.values()
        for node, snapshot in (snapshots or {}).items()
    }


# colorapp's route with its weights moved: only the gateway node reads it (through a backend).
WEIGHT_CHANGE = {
    "httpRoute": {
        "match": {"prefix": "/"},
        "action": {
            "weightedTargets": [
                {"virtualNode": "colorteller-blue-vn", "weight": 3},
                {"virtualNode": "colorteller-red-vn", "weight": 7},
            ]
        },
    }
}


def snapshots_of(publisher: SnapshotPublisher) -> dict[str, object]:
    """Each node's Snapshot object, to tell which ones a write replaced."""
    cache = publisher.cache
    return {node: cache.get_snapshot(node) for node in cache.node_ids()}


def served_now(publisher: SnapshotPublisher) -> dict[str, dict[str, str]]:
    cache = publisher.cache
    return {node: cache.get_snapshot(node).versions() for node in cache.node_ids()}


async def test_route_weight_change_translates_only_the_nodes_routing_to_it(served):
    store, publisher, translate = served
    await store.apply(load_mesh_file(EXAMPLES / "mesh.yaml"))
    before = snapshots_of(publisher)
    translate.calls.clear()
    await store.update(ROUTE, WEIGHT_CHANGE)
    # Only the gateway node has the router's service as a backend; the virtual gateway routes
    # to colorgateway's node-provided service, so it did not read the route either.
    assert translate.calls == ["mesh/default/virtualNode/colorgateway-vn"]
    after = snapshots_of(publisher)
    assert after.keys() == before.keys()
    unchanged = [node for node in before if after[node] is before[node]]
    assert sorted(unchanged) == sorted(set(before) - {"mesh/default/virtualNode/colorgateway-vn"})
    assert served_now(publisher) == full_translation(store)


def _proto(rng: random.Random) -> str:
    # tcp makes backends conflict on a port and http routes miss their targets: refusals
    return rng.choice(("http", "http", "tcp"))


def _random_write(rng: random.Random) -> tuple[str, Key, dict | None]:
    """One create, update or delete of a small universe of nodes, services, routers and routes."""
    kind = rng.choice(("VirtualNode", "VirtualNode", "VirtualService", "VirtualRouter", "Route"))
    op = rng.choice(("put", "put", "put", "delete"))
    if kind == "VirtualNode":
        name = f"n{rng.randrange(5)}"
        backends = rng.sample([f"s{i}" for i in range(4)], rng.randrange(3))
        spec = {
            "listeners": [
                {"portMapping": {"port": rng.choice((8080, 9080)), "protocol": _proto(rng)}}
            ],
            "serviceDiscovery": {"dns": {"hostname": f"{name}.local"}},
            "backends": [{"virtualService": {"virtualServiceName": b}} for b in backends],
        }
        return op, Key(kind, MESH, "", name), spec
    if kind == "VirtualService":
        provider = rng.choice(
            (
                {},
                {"provider": {"virtualNode": {"virtualNodeName": f"n{rng.randrange(5)}"}}},
                {"provider": {"virtualRouter": {"virtualRouterName": f"r{rng.randrange(2)}"}}},
            )
        )
        return op, Key(kind, MESH, "", f"s{rng.randrange(4)}"), provider
    if kind == "VirtualRouter":
        listener = {"portMapping": {"port": rng.choice((8080, 9080)), "protocol": _proto(rng)}}
        return op, Key(kind, MESH, "", f"r{rng.randrange(2)}"), {"listeners": [listener]}
    targets = rng.sample([f"n{i}" for i in range(5)], rng.randrange(1, 3))
    action = [{"virtualNode": t, "weight": rng.randrange(1, 50)} for t in targets]
    spec = {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": action}}}
    return op, Key("Route", MESH, f"r{rng.randrange(2)}", f"rt{rng.randrange(2)}"), spec


async def _do(store: MeshStore, op: str, key: Key, spec: dict | None) -> str:
    try:
        if op == "delete":
            await store.delete(key)
        elif key in store.records:
            await store.update(key, spec)
        else:
            await store.create(key, spec)
    except (errors.Invalid, errors.InUse, errors.NotFound, errors.Conflict) as err:
        return type(err).__name__  # refused: must have changed nothing (compared below)
    return "ok"


@pytest.mark.parametrize("seed", range(10))
async def test_random_writes_equal_a_full_rebuild(served, tmp_path, seed):
    """After each write: the same outcome, model and snapshots as a store that validates and
    translates the whole mesh on every write."""
    store, publisher, _ = served
    whole_publisher = SnapshotPublisher(SnapshotCache())
    whole = MeshStore(
        SqliteStore(tmp_path / "whole.db"), pipeline=whole_publisher, incremental=False
    )
    rng = random.Random(seed)
    try:
        for each in (store, whole):
            await each.create(Key("Mesh", MESH, "", MESH), {})
        outcomes = []
        for _ in range(80):
            write = _random_write(rng)
            previous = store.meshes[MESH]
            outcome = await _do(store, *write)
            assert outcome == await _do(whole, *write), write
            # the keys a write touched (the model's delta) find what a scan of the tables finds
            scanned = changed_keys(previous, replace(store.meshes[MESH], delta={}))
            assert changed_keys(previous, store.meshes[MESH]) == scanned
            outcomes.append(outcome)
            assert store.meshes == whole.meshes
            assert served_now(publisher) == served_now(whole_publisher)
        assert served_now(publisher) == full_translation(store)
        assert outcomes.count("ok") > 20 and len(set(outcomes)) > 1  # both kinds were exercised
    finally:
        whole.store.close()


async def test_a_cloud_map_answer_change_translates_only_the_nodes_that_read_it(tmp_path):
    from proxyinit.controlplane.cloudmap import EnrichingTranslator
    from proxyinit.mesh.model.cloudmap import CloudMapInstance

    answers: dict = {}

    def enrich(model):
        queries = model.cloud_map_queries()
        return replace(model, discovered={q: answers[q] for q in queries if q in answers})

    translate = CountingTranslator()
    publisher = SnapshotPublisher(SnapshotCache(), EnrichingTranslator(translate, enrich))
    store = MeshStore(SqliteStore(tmp_path / "m.db"), pipeline=publisher)
    try:
        await store.create(Key("Mesh", MESH, "", MESH), {})
        listener = [{"portMapping": {"port": 8080, "protocol": "http"}}]
        cloud_map = {"awsCloudMap": {"namespaceName": "ns", "serviceName": "cm"}}
        await store.create(
            Key("VirtualNode", MESH, "", "cm"),
            {"listeners": listener, "serviceDiscovery": cloud_map},
        )
        provider = {"provider": {"virtualNode": {"virtualNodeName": "cm"}}}
        await store.create(Key("VirtualService", MESH, "", "cm.svc"), provider)
        for name, backend in (("a", "cm.svc"), ("b", "other.svc")):
            spec = {
                "listeners": listener,
                "serviceDiscovery": {"dns": {"hostname": f"{name}.local"}},
                "backends": [{"virtualService": {"virtualServiceName": backend}}],
            }
            await store.create(Key("VirtualNode", MESH, "", name), spec)
        (query,) = store.meshes[MESH].cloud_map_queries()
        answers[query] = (CloudMapInstance("i-1", ipv4="198.18.0.1"),)
        translate.calls.clear()
        publisher.publish(publisher.prepare(dict(store.meshes)))  # what a Cloud Map change does
        assert translate.calls == [f"mesh/{MESH}/virtualNode/a"]
        fresh = SnapshotPublisher(SnapshotCache(), EnrichingTranslator(translate_node, enrich))
        prepared = fresh.prepare(dict(store.meshes))[MESH]
        assert served_now(publisher) == {n: s.versions() for n, s in prepared.items()}
    finally:
        store.store.close()


async def test_a_node_whose_translation_iterated_a_table_is_redone_when_it_changes(tmp_path):
    """Reads are recorded per key, and a whole-table read (iteration) depends on every key."""
    seen: list[str] = []

    def iterating(model, node, **options):
        seen.append(str(node))
        if node.node == "a":
            list(model.services)  # as a translator listing every service would
        return translate_node(model, node, **options)

    publisher = SnapshotPublisher(SnapshotCache(), iterating)
    store = MeshStore(SqliteStore(tmp_path / "m.db"), pipeline=publisher)
    try:
        await store.create(Key("Mesh", MESH, "", MESH), {})
        listener = [{"portMapping": {"port": 8080, "protocol": "http"}}]
        for name in ("a", "b"):
            spec = {"listeners": listener, "serviceDiscovery": {"dns": {"hostname": "x.local"}}}
            await store.create(Key("VirtualNode", MESH, "", name), spec)
        seen.clear()
        await store.create(Key("VirtualService", MESH, "", "new.svc"), {})
        assert seen == [f"mesh/{MESH}/virtualNode/a"]
    finally:
        store.store.close()
