"""Replicas: two MeshStores on one real PostgreSQL database, as two `xds serve` processes are.

Each write takes the store's lock and absorbs what the other committed before validating
(store/replica.py), so versions, clientTokens and references hold across replicas.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from proxyinit.mesh.model.meshfile import load_mesh_file
from proxyinit.store import errors
from proxyinit.store.base import Key
from proxyinit.store.meshes import MeshStore
from proxyinit.store.postgres import PostgresStore
from proxyinit.store.replica import catch_up

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "colorapp"
ROUTE = Key("Route", "default", "colorteller-vr", "colorteller-route")


NODE_SPEC = {
    "listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}],
    "serviceDiscovery": {"dns": {"hostname": "blue.default.svc.cluster.local"}},
}


def route_spec(weight: int) -> dict:
    return {
        "httpRoute": {
            "match": {"prefix": "/"},
            "action": {"weightedTargets": [{"virtualNode": "colorteller-vn", "weight": weight}]},
        }
    }


class Published:
    """A pipeline remembering the meshes it was asked to serve."""

    def __init__(self) -> None:
        self.meshes: list[dict] = []

    def prepare(self, meshes):
        return dict(meshes)

    def publish(self, prepared) -> None:
        self.meshes.append(prepared)


@pytest.fixture
async def replicas(postgres_url):
    first = MeshStore(PostgresStore(postgres_url), pipeline=Published())
    await first.apply(load_mesh_file(EXAMPLES / "mesh.yaml"))
    second = MeshStore(PostgresStore(postgres_url), pipeline=Published())
    yield first, second
    first.store.close()
    second.store.close()


async def test_concurrent_updates_of_one_resource_apply_in_sequence(replicas):
    a, b = replicas
    results = await asyncio.gather(
        a.update(ROUTE, route_spec(3)),
        b.update(ROUTE, route_spec(4)),
        a.update(ROUTE, route_spec(5)),
    )
    assert sorted(r.version for r in results) == [2, 3, 4]  # each increment once, none lost
    last = max(results, key=lambda r: r.version)
    await catch_up(a)
    await catch_up(b)
    assert a.get(ROUTE) == b.get(ROUTE) == last
    assert {r.key: r for r in a.store.load()} == a.records == b.records


async def test_a_write_validates_against_the_other_replicas_writes(replicas):
    a, b = replicas
    node = Key("VirtualNode", "default", "", "blue-vn")
    await a.create(node, NODE_SPEC)
    spec = route_spec(1)
    spec["httpRoute"]["action"]["weightedTargets"][0]["virtualNode"] = "blue-vn"
    assert (await b.update(ROUTE, spec)).version == 2  # b had not seen blue-vn: it absorbed it
    with pytest.raises(errors.InUse):
        await a.delete(node)  # a had not seen b's route naming it: absorbed before validating
    with pytest.raises(errors.Conflict):
        await b.create(node, NODE_SPEC)  # exists, though created on the other replica


async def test_client_token_idempotency_holds_across_replicas(replicas):
    a, b = replicas
    mesh = Key("Mesh", "other", "", "other")
    created = await a.create(mesh, None, (), "token-c")
    assert await b.create(mesh, None, (), "token-c") == created  # a retry through the other one
    first = await a.update(ROUTE, route_spec(3), "token-a")
    assert await b.update(ROUTE, route_spec(3), "token-a") == first  # not version 3
    with pytest.raises(errors.Conflict, match="token-a"):
        await b.update(ROUTE, route_spec(9), "token-a")
    assert b.get(ROUTE).version == 2


async def test_catch_up_serves_the_other_replicas_writes(replicas):
    a, b = replicas
    b.pipeline.meshes.clear()
    await a.update(ROUTE, route_spec(7))
    assert await catch_up(b) == ["default"]
    assert b.get(ROUTE).version == 2
    served = b.pipeline.meshes[-1]["default"]
    assert served.routes["colorteller-vr"][0].spec.to_api() == route_spec(7)
    await a.delete(ROUTE)
    assert await catch_up(b) == ["default"] and ROUTE not in b.records
    assert await catch_up(b) == []  # nothing new: nothing republished


async def test_a_notification_wakes_the_other_replica(replicas):
    a, b = replicas
    assert not await asyncio.to_thread(b.store.wait, 0.05)
    await a.update(ROUTE, route_spec(8))
    assert await asyncio.to_thread(b.store.wait, 5)
    assert not await asyncio.to_thread(a.store.wait, 0.2)  # its own write is no news to a


async def test_a_retry_of_an_overwritten_update_on_a_third_replica_writes_nothing(
    replicas, postgres_url
):
    """Update X through A, then Y through C, then X's retry (same clientToken) through B, which
    saw neither: B must answer as A did and keep Y, not apply X again over it."""
    a, b = replicas
    c = MeshStore(PostgresStore(postgres_url))
    try:
        first = await a.update(ROUTE, route_spec(3), "token-x")
        second = await c.update(ROUTE, route_spec(4), "token-y")
        assert await b.update(ROUTE, route_spec(3), "token-x") == first
        assert b.get(ROUTE) == second
        assert {r.key: r for r in b.store.load()}[ROUTE] == second
    finally:
        c.store.close()


async def test_a_missed_notification_is_caught_up_by_the_periodic_read(replicas):
    from proxyinit.controlplane.metrics import PlaneMetrics
    from proxyinit.controlplane.replica import follow

    a, b = replicas
    b.store._listen.execute("UNLISTEN *")  # as if the notification were lost
    metrics = PlaneMetrics()
    follower = asyncio.create_task(follow(b, metrics, interval=0.05))
    try:
        await a.update(ROUTE, route_spec(6))
        for _ in range(200):
            if b.get(ROUTE).version == 2:
                break
            await asyncio.sleep(0.02)
        assert b.get(ROUTE).version == 2
        assert metrics.replica_notifications._value.get() == 0
        assert metrics.replica_catch_ups._value.get() == 1
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
