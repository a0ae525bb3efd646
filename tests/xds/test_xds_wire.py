"""Responses encoded once per snapshot (xds/wire.py): the same message as before, shared bytes."""

from __future__ import annotations

from envoy.service.discovery.v3 import discovery_pb2

from proxyinit.xds import types
from proxyinit.xds.stream import StreamState
from proxyinit.xds.wire import EncodedResponse, encode_body, serialize_response
from tests.xds.xds_testlib import node_snapshot


def _subscribed(stream_id: int) -> StreamState:
    stream = StreamState(stream_id, "a")
    stream.on_request(discovery_pb2.DiscoveryRequest(type_url=types.CLUSTER))
    stream.on_request(
        discovery_pb2.DiscoveryRequest(type_url=types.ROUTE, resource_names=["a-routes"])
    )
    return stream


def test_streams_of_one_snapshot_share_the_encoded_body():
    """Thousands of replicas of one node: the body is encoded once, not once per stream."""
    snapshot = node_snapshot("a")
    first, second = (_subscribed(i).pending_responses(snapshot) for i in (1, 2))
    assert [r.type_url for r in first] == [types.CLUSTER, types.ROUTE]
    for mine, theirs in zip(first, second, strict=True):
        assert mine.body is theirs.body
        assert mine.nonce != theirs.nonce


def test_encoded_response_is_the_message_the_server_used_to_build():
    snapshot = node_snapshot("a")
    for response in _subscribed(7).pending_responses(snapshot):
        selected = snapshot.resources(response.type_url).values()
        expected = discovery_pb2.DiscoveryResponse(
            version_info=snapshot.version(response.type_url),
            type_url=response.type_url,
            nonce=response.nonce,
            resources=[resource.packed for resource in selected],
        )
        assert response.decode() == expected
        assert discovery_pb2.DiscoveryResponse.FromString(serialize_response(response)) == expected


def test_long_nonce_and_plain_messages_are_encoded_too():
    """A nonce over 127 bytes needs a multi-byte length; a plain message passes through."""
    nonce = "n" * 300
    body = encode_body(types.ROUTE, "v1", [])
    decoded = EncodedResponse(body, types.ROUTE, "v1", nonce).decode()
    assert (decoded.nonce, decoded.version_info, decoded.type_url) == (nonce, "v1", types.ROUTE)
    plain = discovery_pb2.DiscoveryResponse(version_info="v2", nonce="x")
    assert serialize_response(plain) == plain.SerializeToString()


def test_bench_client_ack_is_the_request_envoy_would_send():
    """bench/xds_clients.py ACKs from the response's bytes; it must be a real ACK."""
    from bench.xds_clients import ROUTE_NAMES, ack_of

    names = discovery_pb2.DiscoveryRequest(resource_names=ROUTE_NAMES).SerializeToString()
    for type_url, expected_names in ((types.ROUTE, ROUTE_NAMES), (types.CLUSTER, [])):
        packed = [r.packed for r in node_snapshot("a").resources(type_url).values()]
        body = encode_body(type_url, "v9", packed)  # resources (field 2) are left out of the ACK
        response = EncodedResponse(body, type_url, "v9", "3-4").encode()
        ack = discovery_pb2.DiscoveryRequest.FromString(
            ack_of(response, types.ROUTE.encode(), names)
        )
        assert ack == discovery_pb2.DiscoveryRequest(
            version_info="v9",
            type_url=type_url,
            response_nonce="3-4",
            resource_names=expected_names,
        )
