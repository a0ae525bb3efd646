"""Who may ask for what: the ADS server's authorisation seam (protocol level, no App Mesh).

The server asks an `Authorize` callable, for every request that names a node (the first one
and any later one), whether the stream's peer may receive that node's configuration. The peer's
credentials are read once per stream from the call: the TLS client certificate gRPC verified
(`context.auth_context()`: URI SANs, DNS SANs, common name) and the call's metadata (tokens).
What a credential must look like to name a node is the application's business (the control
plane maps SPIFFE ids and tokens to App Mesh node ids); the server only enforces the answer: a
refusal ends the stream with PERMISSION_DENIED before anything of the claimed node is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

log = logging.getLogger(__name__)


class PermissionDenied(Exception):
    """Raised by an `Authorize`: the message says which node the credential names, if any."""


@dataclass(frozen=True)
class PeerCredentials:
    """What the transport and the call say about the client, read once per stream."""

    address: str = ""
    uri_sans: tuple[str, ...] = ()
    dns_sans: tuple[str, ...] = ()
    common_names: tuple[str, ...] = ()
    # Lower-cased keys (gRPC already lower-cases them); the last value of a repeated key wins.
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def has_certificate(self) -> bool:
        return bool(self.uri_sans or self.dns_sans or self.common_names)

    @classmethod
    def of(cls, context: grpc.aio.ServicerContext) -> PeerCredentials:
        auth = context.auth_context() or {}

        def strings(key: str) -> tuple[str, ...]:
            return tuple(v.decode("utf-8", "replace") for v in auth.get(key, ()))

        metadata = {}
        for key, value in context.invocation_metadata() or ():
            if isinstance(value, str):  # -bin keys carry bytes: never a credential here
                metadata[key.lower()] = value
        return cls(
            address=context.peer() or "",
            uri_sans=strings("peer_uri"),
            dns_sans=strings("peer_dns"),
            common_names=strings("x509_common_name"),
            metadata=metadata,
        )


# (peer, node key) -> None when allowed; raises PermissionDenied (its message is logged and sent).
Authorize = Callable[[PeerCredentials, str], None]


async def check(
    authorize: Authorize | None,
    peer: PeerCredentials | None,
    node_key: str,
    context: grpc.aio.ServicerContext,
) -> None:
    """Abort the call with PERMISSION_DENIED unless `peer` may ask for `node_key`."""
    if authorize is None:
        return
    peer = peer or PeerCredentials()
    try:
        authorize(peer, node_key)
    except PermissionDenied as err:
        log.warning("xds stream from %s refused: asks for node %s, %s", peer.address, node_key, err)
        await context.abort(
            grpc.StatusCode.PERMISSION_DENIED, f"not allowed node {node_key}: {err}"
        )
