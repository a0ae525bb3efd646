"""The SotW xDS protocol state of one ADS stream, without any gRPC: pure and synchronous.

The rules (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#ack-and-nack):
- Each response carries a fresh nonce. A request whose `response_nonce` is not the nonce of the
  last response of its type is stale: ignored entirely (its names too), nothing is sent back.
- A request echoing the last nonce is an ACK when it has no `error_detail`, else a NACK. A NACK
  is recorded with its error; since nothing else changes, the rejected version is simply not
  sent again until the snapshot's version for that type changes.
- A request without a nonce, or for a type nothing was sent for yet on this stream,
  (re)subscribes. If the client already holds the current version of a wildcard type (CDS, LDS:
  an Envoy reconnecting after a control-plane restart), nothing is sent: versions are content
  hashes, so equal strings mean equal content.
- CDS and LDS are always answered with every resource of the type (wildcard); RDS and EDS with
  exactly the resources named by the latest non-stale request.
- Responses are produced in `types.PUSH_ORDER` (CDS -> EDS -> LDS -> RDS).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

from envoy.service.discovery.v3 import discovery_pb2

from proxyinit.xds import types
from proxyinit.xds.snapshot import Snapshot
from proxyinit.xds.wire import EncodedResponse

WILDCARD_TYPES = frozenset({types.CLUSTER, types.LISTENER})
SHORT_TYPE_NAMES = {
    types.CLUSTER: "CDS",
    types.ENDPOINT: "EDS",
    types.LISTENER: "LDS",
    types.ROUTE: "RDS",
    types.SECRET: "SDS",
}


class RequestKind(enum.Enum):
    SUBSCRIBE = "subscribe"
    ACK = "ack"
    NACK = "nack"
    STALE = "stale"
    UNKNOWN_TYPE = "unknown_type"


@dataclass
class Nack:
    version: str
    nonce: str
    error: str
    at: float


@dataclass
class TypeState:
    """What this stream has sent and Envoy has acknowledged, for one type URL."""

    subscribed: bool = False
    resource_names: frozenset[str] | None = None  # None: wildcard
    client_version: str = ""  # version_info of the subscribing request (what Envoy holds)
    sent_version: str = ""
    sent_names: frozenset[str] | None = None
    sent_nonce: str = ""
    acked_version: str = ""
    last_nack: Nack | None = None
    responses: int = 0
    acks: int = 0
    nacks: int = 0

    def as_json(self) -> dict:
        nack = self.last_nack
        return {
            "version_sent": self.sent_version,
            "version_acked": self.acked_version,
            "nonce": self.sent_nonce,
            "resource_names": None if self.resource_names is None else sorted(self.resource_names),
            "responses": self.responses,
            "acks": self.acks,
            "nacks": self.nacks,
            "last_nack": None
            if nack is None
            else {"version": nack.version, "error": nack.error, "at": nack.at},
        }


@dataclass
class StreamState:
    """Protocol state of one ADS stream, bound to one node id for its whole life."""

    stream_id: int
    node_id: str
    peer: str = ""
    connected_at: float = field(default_factory=time.time)
    types: dict[str, TypeState] = field(
        default_factory=lambda: {url: TypeState() for url in types.PUSH_ORDER}
    )
    _nonce_counter: int = 0

    def on_request(self, request: discovery_pb2.DiscoveryRequest) -> RequestKind:
        state = self.types.get(request.type_url)
        if state is None:
            return RequestKind.UNKNOWN_TYPE
        names = None if request.type_url in WILDCARD_TYPES else frozenset(request.resource_names)
        # Nothing sent yet on this stream: any request subscribes, even one carrying a nonce
        # from a previous stream or server (go-control-plane does the same).
        if not request.response_nonce or not state.sent_nonce:
            state.subscribed, state.resource_names = True, names
            state.client_version = request.version_info
            state.sent_version, state.sent_names, state.sent_nonce = "", None, ""
            return RequestKind.SUBSCRIBE
        if request.response_nonce != state.sent_nonce:
            return RequestKind.STALE
        state.resource_names = names
        if request.HasField("error_detail"):
            error = request.error_detail.message or f"code {request.error_detail.code}"
            state.last_nack = Nack(state.sent_version, request.response_nonce, error, time.time())
            state.nacks += 1
            return RequestKind.NACK
        state.acked_version = request.version_info
        state.acks += 1
        return RequestKind.ACK

    def may_owe_after(self, type_url: str, kind: RequestKind) -> bool:
        """Whether a request of `kind` just applied can have made a response owed. An ACK that
        keeps its type's names (Envoy's usual answer to a push), a stale or an unknown-type
        request change nothing `pending_responses` looks at: no stream turn is needed."""
        if kind is RequestKind.STALE or kind is RequestKind.UNKNOWN_TYPE:
            return False
        if kind is not RequestKind.ACK:
            return True
        state = self.types[type_url]
        return state.resource_names != state.sent_names

    def pending_responses(self, snapshot: Snapshot) -> list[EncodedResponse]:
        """Responses this stream still owes for `snapshot`, in PUSH_ORDER; marks them as sent.
        Their bodies are shared with every stream of the snapshot (xds/wire.py)."""
        responses = []
        for type_url in types.PUSH_ORDER:
            state = self.types[type_url]
            if not state.subscribed:
                continue
            version = snapshot.version(type_url)
            if state.sent_version == version and state.sent_names == state.resource_names:
                continue
            if self._client_already_holds(type_url, state, version):
                continue
            responses.append(self._build_response(snapshot, type_url, state, version))
        return responses

    def _client_already_holds(self, type_url: str, state: TypeState, version: str) -> bool:
        if type_url not in WILDCARD_TYPES or state.sent_nonce or state.client_version != version:
            return False
        state.sent_version = state.acked_version = version
        return True

    def _build_response(
        self, snapshot: Snapshot, type_url: str, state: TypeState, version: str
    ) -> EncodedResponse:
        body = snapshot.response_body(type_url, state.resource_names)
        self._nonce_counter += 1
        nonce = f"{self.stream_id}-{self._nonce_counter}"
        state.sent_version, state.sent_names, state.sent_nonce = (
            version,
            state.resource_names,
            nonce,
        )
        state.responses += 1
        return EncodedResponse(body, type_url, version, nonce)

    def as_json(self) -> dict:
        return {
            "stream_id": self.stream_id,
            "peer": self.peer,
            "connected_at": self.connected_at,
            "types": {
                SHORT_TYPE_NAMES[url]: state.as_json()
                for url, state in self.types.items()
                if state.subscribed
            },
        }
