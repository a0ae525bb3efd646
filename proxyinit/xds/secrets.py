"""SDS names a listener or cluster asks for over ADS (for the snapshot consistency check).

Only references whose `sds_config` is ADS count: a secret fetched elsewhere (a file, another
SDS server) is not this server's to serve.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message

from proxyinit.xds.types import filter_chains

_TLS_SOCKET_TYPES = {
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
}


def _sockets(resource: Message) -> Iterable[Message]:
    if resource.DESCRIPTOR.full_name == "envoy.config.cluster.v3.Cluster":
        if resource.HasField("transport_socket"):
            yield resource.transport_socket
        return
    chains = filter_chains(resource)
    yield from (chain.transport_socket for chain in chains if chain.HasField("transport_socket"))


def _common(socket: Message) -> Message | None:
    from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

    config = socket.typed_config
    if config.type_url not in _TLS_SOCKET_TYPES:
        return None
    kind = (
        tls_pb2.DownstreamTlsContext
        if "Downstream" in config.type_url
        else tls_pb2.UpstreamTlsContext
    )
    return kind.FromString(config.value).common_tls_context


def sds_references(resource: Message) -> list[str]:
    """The ADS-served secret names a Listener or Cluster's TLS transport sockets reference."""
    names: list[str] = []
    for socket in _sockets(resource):
        common = _common(socket)
        if common is None:
            continue
        configs = list(common.tls_certificate_sds_secret_configs)
        if common.HasField("validation_context_sds_secret_config"):
            configs.append(common.validation_context_sds_secret_config)
        names += [c.name for c in configs if c.sds_config.HasField("ads")]
    return names
