"""Requests the ADS server applies in the stream's reader, without a turn of the stream's task
(server.py `_apply_now`): an idle stream's ACK, NACK, names change, and a change racing them.
Against a real grpc.aio server and client on 127.0.0.1."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from proxyinit.controlplane.plane import app_mesh_node_key
from proxyinit.xds import types
from proxyinit.xds.cache import SnapshotCache
from proxyinit.xds.server import (
    AggregatedDiscoveryService,
    Callbacks,
    StreamRegistry,
    start_server,
)
from proxyinit.xds.stream import RequestKind
from tests.support.xds_watch import StreamWatcher
from tests.xds.conftest import Ads
from tests.xds.xds_testlib import node_snapshot

GATEWAY = "mesh/m/virtualNode/gateway"


class Turns(Callbacks):
    """Counts the stream turns (each ends with `on_responses_sent`) and the requests seen."""

    def __init__(self) -> None:
        self.turns = 0
        self.kinds: list[RequestKind] = []

    def on_responses_sent(self, stream) -> None:
        self.turns += 1

    def on_request(self, stream, type_url, kind) -> None:
        self.kinds.append(kind)


@dataclass
class AdsWithTurns(Ads):
    turns: Turns


@pytest.fixture
async def ads():
    """conftest's `ads` (which its `connect` uses), with the Turns counter among the callbacks."""
    cache, registry = SnapshotCache(), StreamRegistry()
    watcher, turns = StreamWatcher(registry), Turns()
    cache.set_snapshot(GATEWAY, node_snapshot("g"))
    service = AggregatedDiscoveryService(
        cache, [registry, watcher, turns], node_key=app_mesh_node_key
    )
    server, port = await start_server(service, "127.0.0.1:0")
    try:
        yield AdsWithTurns(cache, registry, watcher, port, turns)
    finally:
        await server.stop(0)


@pytest.fixture
def turns(ads):
    return ads.turns


async def _idle_after(ads, client, type_url, names=()):
    """Subscribe to `type_url`; return its response once the stream's turn that sent it is over
    (the watcher hears its `on_responses_sent`, after which the stream's task idles)."""
    await client.send(type_url, names)
    response = await client.read()
    await ads.watcher.wait_until(lambda s: s and s[0].types[type_url].responses == 1, 3)
    return response


async def test_a_plain_ack_is_applied_without_a_stream_turn(ads, connect, turns):
    client = connect(GATEWAY)
    cds = await _idle_after(ads, client, types.CLUSTER)
    before = turns.turns
    await client.ack(cds)
    await ads.watcher.wait_until(
        lambda s: s[0].types[types.CLUSTER].acked_version == cds.version_info, 3
    )
    await client.expect_nothing()
    assert turns.kinds[-1] is RequestKind.ACK and turns.turns == before
    # The stream still answers what comes next: a new subscription, then a change.
    await client.send(types.LISTENER)
    assert (await client.read()).type_url == types.LISTENER
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g", {"g-blue": 1, "g-red": 1}))
    assert (await client.read()).type_url == types.CLUSTER


async def test_an_idle_streams_ack_naming_other_resources_is_answered(ads, connect, turns):
    client = connect(GATEWAY)
    empty = await _idle_after(ads, client, types.ROUTE, ["other"])
    assert len(empty.resources) == 0
    await client.ack(empty, ["other", "g-routes"])
    response = await client.read()
    assert response.type_url == types.ROUTE and len(response.resources) == 1
    assert response.nonce != empty.nonce
    await client.ack(response, ["other", "g-routes"])
    await client.expect_nothing()


async def test_an_idle_streams_nack_is_recorded_and_nothing_is_resent(ads, connect, turns):
    client = connect(GATEWAY)
    cds = await _idle_after(ads, client, types.CLUSTER)
    await client.send(types.CLUSTER, nonce=cds.nonce, error="bad cluster")
    await ads.watcher.wait_until(lambda s: s[0].types[types.CLUSTER].last_nack is not None, 3)
    assert turns.kinds[-1] is RequestKind.NACK
    await client.expect_nothing()
    state = ads.registry.streams()[0].types[types.CLUSTER]
    assert state.last_nack.error == "bad cluster" and state.acked_version == ""


async def test_an_ack_changing_names_as_the_snapshot_changes_converges(ads, connect):
    """The ACK may reach the server before the change's turn (applied, names kept) or after it
    (stale: ignored); either way the client, ACKing what it gets with the names it wants as
    Envoy does, ends with the new version of exactly those names, and nothing more is sent."""
    client = connect(GATEWAY)
    rds = await _idle_after(ads, client, types.ROUTE, ["other"])
    await client.ack(rds, ["other", "g-routes"])
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g", {"g-blue": 8, "g-red": 2}))
    wanted = ads.cache.get_snapshot(GATEWAY).version(types.ROUTE)
    for _ in range(3):
        response = await client.read()
        await client.ack(response, ["other", "g-routes"])
        if response.version_info == wanted and len(response.resources) == 1:
            break
    else:
        raise AssertionError(f"never got version {wanted} of both names")
    await client.expect_nothing()
    await ads.watcher.wait_until(
        lambda s: (
            s[0].types[types.ROUTE].acked_version == wanted
            and s[0].types[types.ROUTE].resource_names == frozenset({"other", "g-routes"})
        ),
        3,
    )
