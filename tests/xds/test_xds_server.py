"""ADS server against a real grpc.aio client stub on 127.0.0.1."""

from __future__ import annotations

import asyncio
import collections

import grpc
import pytest

from proxyinit.xds import types
from tests.support.xds_watch import watcher_count
from tests.xds.xds_testlib import node_snapshot

GATEWAY = "mesh/m/virtualNode/gateway"
TELLER = "mesh/m/virtualNode/teller"


async def subscribe_all(client, watcher):
    """Subscribe the way Envoy does: CDS, then LDS, then RDS with the route names of the LDS."""
    await client.send(types.CLUSTER)
    cds = await client.read()
    await client.ack(cds)
    await client.send(types.LISTENER)
    lds = await client.read()
    await client.ack(lds)
    await client.send(types.ROUTE, ["g-routes"])
    rds = await client.read()
    await client.ack(rds, ["g-routes"])
    await watcher.wait_until(
        lambda s: s[-1].types[types.ROUTE].acked_version == rds.version_info, 3
    )
    return cds, lds, rds


async def test_initial_subscription_and_ack(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g"))
    client = connect(GATEWAY)
    cds, lds, rds = await subscribe_all(client, ads.watcher)
    snapshot = ads.cache.get_snapshot(GATEWAY)
    assert cds.version_info == snapshot.version(types.CLUSTER) and len(cds.resources) == 1
    assert lds.type_url == types.LISTENER and len(lds.resources) == 1
    assert [r.type_url for r in rds.resources] == [types.ROUTE]
    await ads.watcher.wait_until(
        lambda streams: streams and streams[0].types[types.ROUTE].acked_version == rds.version_info,
        3,
    )
    state = ads.registry.streams()[0]
    assert state.node_id == GATEWAY
    assert state.types[types.CLUSTER].acked_version == cds.version_info
    await client.expect_nothing()


async def test_rds_honours_resource_names(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g"))
    client = connect(GATEWAY)
    await client.send(types.ROUTE, ["other"])
    response = await client.read()
    assert len(response.resources) == 0
    await client.send(
        types.ROUTE, ["g-routes"], version=response.version_info, nonce=response.nonce
    )
    response = await client.read()
    assert len(response.resources) == 1


async def test_nack_is_recorded_and_not_resent_until_snapshot_changes(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g"))
    client = connect(GATEWAY)
    await client.send(types.CLUSTER)
    first = await client.read()
    await client.ack(first)
    await client.send(types.LISTENER)
    await client.ack(await client.read())
    # Otherwise the ACK may arrive after the next push and be (rightly) ignored as stale.
    await ads.watcher.wait_until(
        lambda s: s[0].types[types.CLUSTER].acked_version == first.version_info, 3
    )
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g", {"g-blue": 1, "g-red": 1}))
    bad = await client.read()
    assert bad.version_info != first.version_info
    await client.send(
        types.CLUSTER, version=first.version_info, nonce=bad.nonce, error="bad cluster g-red"
    )
    await client.expect_nothing()
    await ads.watcher.wait_until(lambda s: s[0].types[types.CLUSTER].last_nack is not None, 3)
    state = ads.registry.streams()[0].types[types.CLUSTER]
    assert (
        state.last_nack.error == "bad cluster g-red" and state.last_nack.version == bad.version_info
    )
    assert state.acked_version == first.version_info
    # Another type changes (the stream wakes up, unlike for an equal snapshot, which the cache
    # drops): that type is pushed, the NACKed CDS version is still not resent.
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g", {"g-blue": 1, "g-red": 1}, port=1))
    assert (await client.read()).type_url == types.LISTENER
    await client.expect_nothing()
    # A new version is pushed.
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g", {"g-blue": 1}))
    fixed = await client.read()
    assert fixed.version_info == first.version_info and fixed.nonce != bad.nonce


async def test_stale_nonce_is_ignored(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g"))
    client = connect(GATEWAY)
    await client.send(types.CLUSTER)
    first = await client.read()
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g", {"g-blue": 1, "g-red": 1}))
    second = await client.read()
    # Envoy's ACK of the first response arrives after the second was sent: stale.
    await client.send(types.CLUSTER, version=first.version_info, nonce=first.nonce, error="late")
    await client.expect_nothing()
    state = ads.registry.streams()[0].types[types.CLUSTER]
    assert state.last_nack is None and state.acked_version == ""
    await client.ack(second)
    await ads.watcher.wait_until(
        lambda s: s[0].types[types.CLUSTER].acked_version == second.version_info, 3
    )


async def test_changes_are_pushed_in_cds_lds_rds_order(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g"))
    client = connect(GATEWAY)
    # Subscribe in the "wrong" order; the push after a change must still be CDS -> LDS -> RDS.
    await client.send(types.ROUTE, ["g-routes"])
    await client.ack(await client.read(), ["g-routes"])
    await client.send(types.LISTENER)
    await client.ack(await client.read())
    await client.send(types.CLUSTER)
    await client.ack(await client.read())
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g", {"g-blue": 8, "g-red": 2}, port=1))
    order = [(await client.read()).type_url for _ in range(3)]
    assert order == [types.CLUSTER, types.LISTENER, types.ROUTE]


async def test_snapshot_change_pushes_only_changed_types(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g", {"g-blue": 1, "g-red": 1}))
    client = connect(GATEWAY)
    _cds, _lds, rds = await subscribe_all(client, ads.watcher)
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g", {"g-blue": 8, "g-red": 2}))
    pushed = await client.read()
    assert pushed.type_url == types.ROUTE and pushed.version_info != rds.version_info
    await client.expect_nothing()


async def test_unknown_node_is_not_found(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g"))
    client = connect("mesh/m/virtualNode/nobody")
    await client.send(types.CLUSTER)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.read()
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "mesh/m/virtualNode/nobody" in info.value.details()


@pytest.mark.parametrize(
    "node_id", ["", "gateway", "mesh/m/virtualNode/", "mesh/m/virtualRouter/x"]
)
async def test_malformed_node_id_is_invalid_argument(ads, connect, node_id):
    client = connect(node_id)
    await client.send(types.CLUSTER)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.read()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "mesh/<mesh>/virtualNode/<node>" in info.value.details()


async def test_the_default_node_key_refuses_an_empty_node_id():
    from envoy.config.core.v3 import base_pb2

    from proxyinit.xds.server import node_id_of

    assert node_id_of(base_pb2.Node(id="any/id")) == "any/id"
    with pytest.raises(ValueError, match="no node id"):
        node_id_of(base_pb2.Node())


async def test_node_id_cannot_change_mid_stream(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g"))
    ads.cache.set_snapshot(TELLER, node_snapshot("t"))
    client = connect(GATEWAY)
    await client.send(types.CLUSTER)
    await client.read()
    await client.send(types.LISTENER, node_id=TELLER)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.read()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_nodes_are_isolated(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g"))
    ads.cache.set_snapshot(TELLER, node_snapshot("t"))
    gateway, teller = connect(GATEWAY), connect(TELLER)
    await gateway.send(types.CLUSTER)
    await teller.send(types.CLUSTER)
    g_first, t_first = await gateway.read(), await teller.read()
    await gateway.ack(g_first)
    await teller.ack(t_first)
    assert _cluster_names(g_first) == ["g-blue"] and _cluster_names(t_first) == ["t-blue"]
    ads.cache.set_snapshot(TELLER, node_snapshot("t", {"t-blue": 1, "t-red": 1}))
    assert _cluster_names(await teller.read()) == ["t-blue", "t-red"]
    await gateway.expect_nothing()


async def test_node_removed_from_mesh_ends_stream_not_found(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g"))
    client = connect(GATEWAY)
    await client.send(types.CLUSTER)
    await client.ack(await client.read())
    ads.cache.clear_snapshot(GATEWAY)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.read()
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reconnect_with_current_version_sends_nothing_for_wildcard_types(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g"))
    version = ads.cache.get_snapshot(GATEWAY).version(types.CLUSTER)
    client = connect(GATEWAY)
    await client.send(types.CLUSTER, version=version)
    await client.expect_nothing()
    await client.send(
        types.ROUTE, ["g-routes"], version=ads.cache.get_snapshot(GATEWAY).version(types.ROUTE)
    )
    assert (await client.read()).type_url == types.ROUTE  # RDS/EDS are always answered


async def test_stream_state_is_dropped_when_client_goes_away(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g"))
    client = connect(GATEWAY)
    await client.send(types.CLUSTER)
    await client.read()
    assert len(ads.registry.streams()) == 1
    await client.close()
    await ads.watcher.wait_until(lambda streams: not streams, 3)
    assert watcher_count(ads.cache) == 0


def _cluster_names(response):
    from envoy.config.cluster.v3 import cluster_pb2

    return sorted(cluster_pb2.Cluster.FromString(r.value).name for r in response.resources)


async def test_nonce_from_a_previous_stream_still_subscribes(ads, connect):
    ads.cache.set_snapshot(GATEWAY, node_snapshot("g"))
    client = connect(GATEWAY)
    await client.send(types.CLUSTER, version="old", nonce="nonce-of-a-dead-server")
    assert (await client.read()).type_url == types.CLUSTER


class HeldRequests:
    """A request stream whose read, once cancelled, takes a few loop turns to wind down."""

    def __init__(self, first):
        self.first, self.wound_down = first, False

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.first is not None:
            first, self.first = self.first, None
            return first
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)
            self.wound_down = True
            raise


class FakeContext:
    def peer(self) -> str:
        return "test"

    async def abort(self, code, details):
        raise AssertionError(f"aborted: {code} {details}")


async def test_the_reader_ends_cancelled_after_queuing_the_end():
    from proxyinit.xds.server import _END, _read_requests

    inbox, wakeup = collections.deque(), asyncio.Event()
    reader = asyncio.create_task(_read_requests(HeldRequests(None), inbox, wakeup))
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert reader.cancelled() and list(inbox) == [_END] and wakeup.is_set()


async def test_a_closed_stream_leaves_no_reader_running():
    from envoy.config.core.v3 import base_pb2
    from envoy.service.discovery.v3 import discovery_pb2

    from proxyinit.xds.cache import SnapshotCache
    from proxyinit.xds.server import AggregatedDiscoveryService, StreamRegistry

    cache = SnapshotCache()
    cache.set_snapshot(GATEWAY, node_snapshot("g"))
    registry = StreamRegistry()
    service = AggregatedDiscoveryService(cache, [registry])
    requests = HeldRequests(
        discovery_pb2.DiscoveryRequest(type_url=types.CLUSTER, node=base_pb2.Node(id=GATEWAY))
    )
    responses = service.StreamAggregatedResources(requests, FakeContext())
    assert (await anext(responses)).type_url == types.CLUSTER
    await asyncio.sleep(0.01)  # the reader is now waiting for Envoy's next request
    await responses.aclose()  # what grpc does when the call ends
    assert requests.wound_down, "the stream ended before its reader did"
    assert not registry.streams() and watcher_count(cache) == 0


async def test_a_node_key_other_than_the_id_holds_for_the_whole_stream():
    """The seam maps Node -> cache key; Envoy repeats its node on later requests, and those must
    be compared as keys too, not as raw ids against the key."""
    import grpc

    from proxyinit.xds.cache import SnapshotCache
    from proxyinit.xds.server import AggregatedDiscoveryService, start_server
    from tests.xds.conftest import AdsClient

    cache = SnapshotCache()
    cache.set_snapshot("key/gw", node_snapshot("g"))
    service = AggregatedDiscoveryService(cache, node_key=lambda node: f"key/{node.id}")
    server, port = await start_server(service, "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    client = AdsClient(channel, "gw")
    try:
        await client.send(types.CLUSTER)
        cds = await client.read()
        await client.send(types.CLUSTER, version=cds.version_info, nonce=cds.nonce, node_id="gw")
        await client.send(types.LISTENER, node_id="gw")
        assert (await client.read()).type_url == types.LISTENER  # the stream is still open
        await client.send(types.ROUTE, ["g-routes"], node_id="other")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.read()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await client.close()
        await channel.close()
        await server.stop(0)
