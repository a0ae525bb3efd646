"""Immutable, versioned, consistency-checked snapshot of one Envoy node's configuration.

Contract (as go-control-plane's `cache/v3.Snapshot`):
- A `Snapshot` is built from `{type_url: [resource protos]}` (what `translate_node` returns) and
  is never mutated afterwards; the server reads it from any stream without locking.
- Construction checks consistency and raises `InconsistentSnapshotError` instead of returning a
  snapshot Envoy would reject or half-apply. An inconsistent snapshot is therefore never published.
- `version(type_url)` is a content hash of the deterministically serialized resources of that
  type: identical content gives an identical version, in any process, so a restarted server never
  hands out a version string an Envoy already holds for different content.
- Per-resource hashes are kept too: that is the seam for Delta xDS (per-resource versions).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from google.protobuf import any_pb2
from google.protobuf.message import Message

from proxyinit.errors import ConfigError
from proxyinit.xds import types

_HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"


class InconsistentSnapshotError(ConfigError):
    """The resources of a snapshot reference each other wrongly; it must not be published."""


@dataclass(frozen=True)
class Resource:
    """One named resource: the proto, its packed Any (ready to send) and its content hash."""

    name: str
    message: Message
    packed: any_pb2.Any
    digest: str


@dataclass(frozen=True)
class TypedResources:
    """All resources of one type URL, keyed by name, plus the content-hash version of the set."""

    version: str
    items: Mapping[str, Resource]


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _version_of(items: Mapping[str, Resource]) -> str:
    """Hash of the sorted (name, digest) pairs: independent of input order and of the process."""
    hasher = hashlib.sha256()
    for name in sorted(items):
        hasher.update(name.encode())
        hasher.update(b"\0")
        hasher.update(items[name].digest.encode())
        hasher.update(b"\n")
    return hasher.hexdigest()[:16]


def _freeze(type_url: str, messages: Sequence[Message]) -> TypedResources:
    items: dict[str, Resource] = {}
    expected_full_name = type_url.rsplit("/", 1)[-1]
    for message in messages:
        if message.DESCRIPTOR.full_name != expected_full_name:
            raise InconsistentSnapshotError(
                f"a {message.DESCRIPTOR.full_name} was given under type {type_url}"
            )
        name = message.name if type_url != types.ENDPOINT else message.cluster_name
        if not name:
            raise InconsistentSnapshotError(f"a {expected_full_name} has an empty name")
        if name in items:
            raise InconsistentSnapshotError(f"duplicate {expected_full_name} named {name!r}")
        # Copy so later mutation of the caller's proto cannot change a published snapshot.
        frozen = type(message)()
        frozen.CopyFrom(message)
        payload = frozen.SerializeToString(deterministic=True)
        packed = any_pb2.Any(type_url=type_url, value=payload)
        items[name] = Resource(name, frozen, packed, _digest(payload))
    return TypedResources(_version_of(items), MappingProxyType(items))


class Snapshot:
    """Immutable resources of one node, per type URL of `proxyinit.xds.types.PUSH_ORDER`."""

    __slots__ = ("_bodies", "_by_type")

    def __init__(self, resources: Mapping[str, Sequence[Message]]):
        unknown = set(resources) - set(types.PUSH_ORDER)
        if unknown:
            raise InconsistentSnapshotError(
                f"unknown resource type(s): {', '.join(sorted(unknown))}"
            )
        by_type = {url: _freeze(url, resources.get(url, ())) for url in types.PUSH_ORDER}
        self._by_type: Mapping[str, TypedResources] = MappingProxyType(by_type)
        check_consistent(self)
        # Encoded response bodies, built on first use: a memo, not state (see xds/wire.py).
        self._bodies: dict[tuple[str, frozenset[str] | None], bytes] = {}

    def version(self, type_url: str) -> str:
        return self._by_type[type_url].version

    def versions(self) -> dict[str, str]:
        return {url: typed.version for url, typed in self._by_type.items()}

    def resources(self, type_url: str) -> Mapping[str, Resource]:
        return self._by_type[type_url].items

    def response_body(self, type_url: str, names: frozenset[str] | None) -> bytes:
        """The encoded response (without nonce) for `names` of `type_url` (None: all of them),
        built once and shared by every stream of this snapshot that asks the same."""
        key = (type_url, names)
        body = self._bodies.get(key)
        if body is None:
            from proxyinit.xds.wire import encode_body

            items = self.resources(type_url)
            if names is None:
                selected = list(items.values())
            else:  # names Envoy asked for that we do not have are left out; Envoy keeps waiting
                selected = [items[name] for name in sorted(names) if name in items]
            body = encode_body(type_url, self.version(type_url), [r.packed for r in selected])
            self._bodies[key] = body
        return body

    def same_content(self, other: Snapshot | None) -> bool:
        return other is not None and self.versions() == other.versions()

    def __repr__(self) -> str:
        parts = ", ".join(f"{url.rsplit('.', 1)[-1]}={v}" for url, v in self.versions().items())
        return f"Snapshot({parts})"


# --- consistency ------------------------------------------------------------------------------


def check_consistent(snapshot: Snapshot) -> None:
    """Raise InconsistentSnapshotError naming the first dangling reference.

    Checked: clusters referenced by listeners (tcp_proxy, inline route configs) and by route
    configurations exist; RDS names referenced by an HTTP connection manager exist; EDS clusters
    have a ClusterLoadAssignment.
    """
    clusters = snapshot.resources(types.CLUSTER)
    routes = snapshot.resources(types.ROUTE)
    problems: list[str] = []
    for name, resource in snapshot.resources(types.LISTENER).items():
        for kind, target in _listener_references(resource.message):
            known = routes if kind == "route_config" else clusters
            if target not in known:
                problems.append(f"listener {name!r} references missing {kind} {target!r}")
    for name, resource in routes.items():
        for target in _route_config_clusters(resource.message):
            if target not in clusters:
                problems.append(f"route_config {name!r} references missing cluster {target!r}")
    assignments = snapshot.resources(types.ENDPOINT)
    for name, resource in clusters.items():
        eds_name = _eds_service_name(resource.message)
        if eds_name is not None and eds_name not in assignments:
            problems.append(f"EDS cluster {name!r} has no ClusterLoadAssignment {eds_name!r}")
    problems += _missing_secrets(snapshot)
    if problems:
        raise InconsistentSnapshotError("inconsistent snapshot: " + "; ".join(problems))


def _missing_secrets(snapshot: Snapshot) -> list[str]:
    """SDS names (fetched over ADS) in transport sockets of listeners and clusters, not served."""
    from proxyinit.xds.secrets import sds_references

    secrets = snapshot.resources(types.SECRET)
    return [
        f"{kind} {name!r} references missing secret {secret!r}"
        for kind, type_url in (("listener", types.LISTENER), ("cluster", types.CLUSTER))
        for name, resource in snapshot.resources(type_url).items()
        for secret in sds_references(resource.message)
        if secret not in secrets
    ]


def _eds_service_name(cluster: Message) -> str | None:
    from envoy.config.cluster.v3 import cluster_pb2

    if (
        cluster.WhichOneof("cluster_discovery_type") != "type"
        or cluster.type != cluster_pb2.Cluster.EDS
    ):
        return None
    return cluster.eds_cluster_config.service_name or cluster.name


def _listener_references(listener: Message) -> Iterable[tuple[str, str]]:
    for chain in types.filter_chains(listener):
        for network_filter in chain.filters:
            config = network_filter.typed_config
            if config.type_url in (_TCP_PROXY_TYPE, _HCM_TYPE):
                yield from _filter_references(config.type_url, config.value)


@functools.lru_cache(maxsize=4096)
def _filter_references(type_url: str, value: bytes) -> tuple[tuple[str, str], ...]:
    # By content: most nodes' filters are alike, and parsing each again was a tenth of a
    # 1,000-node translation (issue 11).
    config = any_pb2.Any(type_url=type_url, value=value)
    if type_url == _TCP_PROXY_TYPE:
        return tuple(("cluster", c) for c in _tcp_proxy_clusters(config))
    return tuple(_hcm_references(config))


def _tcp_proxy_clusters(config: any_pb2.Any) -> list[str]:
    from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

    proxy = tcp_proxy_pb2.TcpProxy.FromString(config.value)
    if proxy.HasField("weighted_clusters"):
        return [weighted.name for weighted in proxy.weighted_clusters.clusters]
    return [proxy.cluster] if proxy.cluster else []


def _hcm_references(config: any_pb2.Any) -> Iterable[tuple[str, str]]:
    from envoy.extensions.filters.network.http_connection_manager.v3 import (
        http_connection_manager_pb2 as hcm_pb2,
    )

    manager = hcm_pb2.HttpConnectionManager.FromString(config.value)
    if manager.HasField("rds"):
        yield ("route_config", manager.rds.route_config_name)
    elif manager.HasField("route_config"):
        yield from (("cluster", c) for c in _route_config_clusters(manager.route_config))


def _route_config_clusters(route_config: Message) -> list[str]:
    names: list[str] = []
    for virtual_host in route_config.virtual_hosts:
        for route in virtual_host.routes:
            if not route.HasField("route"):
                continue  # redirect / direct_response / filter_action reference no cluster
            action = route.route
            if action.HasField("weighted_clusters"):
                names.extend(weighted.name for weighted in action.weighted_clusters.clusters)
            elif action.cluster:
                names.append(action.cluster)
    return names
