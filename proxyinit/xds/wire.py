"""DiscoveryResponses encoded once per snapshot and shared by every stream that is owed one.

Thousands of streams (replicas of one virtual node) are owed the same response but for its
nonce. Serialising a DiscoveryResponse per stream copies every packed resource into a new
message and encodes it again; here the body (version, type URL, resources) is encoded once per
(snapshot, type URL, resource names) and each stream appends only its nonce field. Protobuf
parsers accept fields in any order, so `body + nonce field` decodes to exactly the message the
server used to build (https://protobuf.dev/programming-guides/encoding/#order).
"""

from __future__ import annotations

from envoy.service.discovery.v3 import discovery_pb2

_NONCE_TAG = b"\x2a"  # field 5 (nonce), wire type 2 (length-delimited)


class EncodedResponse:
    """A DiscoveryResponse as bytes: the shared body plus this stream's nonce."""

    __slots__ = ("body", "nonce", "type_url", "version_info")

    def __init__(self, body: bytes, type_url: str, version_info: str, nonce: str):
        self.body, self.type_url = body, type_url
        self.version_info, self.nonce = version_info, nonce

    def encode(self) -> bytes:
        nonce = self.nonce.encode()
        return self.body + _NONCE_TAG + _varint(len(nonce)) + nonce

    def decode(self) -> discovery_pb2.DiscoveryResponse:
        """The message it stands for (tests, debugging)."""
        return discovery_pb2.DiscoveryResponse.FromString(self.encode())


def encode_body(type_url: str, version: str, packed: list) -> bytes:
    """The nonce-less part of a response: built once, then shared by every stream."""
    return discovery_pb2.DiscoveryResponse(
        version_info=version, type_url=type_url, resources=packed
    ).SerializeToString()


def serialize_response(response: EncodedResponse | discovery_pb2.DiscoveryResponse) -> bytes:
    """The ADS handler's response serializer: shared bytes, or a plain message (other callers)."""
    if isinstance(response, EncodedResponse):
        return response.encode()
    return response.SerializeToString()


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
