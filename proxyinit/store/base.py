"""The store contract: records of App Mesh resources, written atomically. Dependency-free leaf.

A Record is one resource as the API returns it: its names, its `spec` (App Mesh JSON, GA
shape), tags and the metadata App Mesh keeps (uid, version, timestamps, arn). The store knows
nothing of validation or of Envoy: callers validate the would-be mesh, then `commit` it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

# The order of this tuple matters: it is the order `mesh apply` and restores create resources
# in, parents before children (a route needs its router, a router's service needs the router).
# A gateway route needs its gateway and the virtual service it targets, so gateways come last.
KINDS: tuple[str, ...] = (
    "Mesh",
    "VirtualNode",
    "VirtualRouter",
    "Route",
    "VirtualService",
    "VirtualGateway",
    "GatewayRoute",
)
# The kinds that live inside another resource than their mesh: kind -> (parent kind, the
# create-* key naming the parent). Key.router holds the parent's name.
PARENT: dict[str, tuple[str, str]] = {
    "Route": ("VirtualRouter", "virtualRouterName"),
    "GatewayRoute": ("VirtualGateway", "virtualGatewayName"),
}


@dataclass(frozen=True)
class Key:
    """Identity of a resource: kind, mesh, router and name. `router` is the parent's name (the
    virtual router of a Route, the virtual gateway of a GatewayRoute: PARENT), '' otherwise."""

    kind: str
    mesh: str
    router: str
    name: str


@dataclass(frozen=True)
class Record:
    key: Key
    spec: dict
    uid: str
    arn: str
    version: int
    created_at: float
    updated_at: float
    tags: tuple[tuple[str, str], ...] = ()
    # Idempotency: the clientToken of the write that produced this version, and a digest of
    # that request, so a retry with the same token returns this record instead of a conflict.
    client_token: str = ""
    request_digest: str = ""
    owner: str = field(default="", compare=False)


@dataclass(frozen=True)
class Changes:
    """What other writers committed since this store object last looked: the records put and the
    keys deleted (never both for one key), and `seq`, the number of the last committed write."""

    seq: int = 0
    puts: tuple[Record, ...] = ()
    deletes: tuple[Key, ...] = ()
    # Every version written with a clientToken in those writes (of the last 15 minutes), the
    # ones overwritten since included: a retry on this replica of any of them gets its answer.
    versions: tuple[Record, ...] = ()


class Store(Protocol):
    """Contract: `load` returns every record; `commit` applies puts and deletes in ONE durable
    transaction (all or nothing, on disk before it returns) or raises.

    Several writers (PostgreSQL replicas sharing one database) each hold the whole set in
    memory, so a write must be validated against the latest committed state, not against what
    this process last saw. Hence, for one write: `begin()` takes the store's write lock (across
    processes) and returns what others committed since `load` or the last `begin`/`changes`;
    the caller applies it, validates, then `commit`s (which releases the lock) or `abort`s.
    `changes()` returns the same without the lock (a replica catching up on a notification);
    `wait(timeout)` blocks until another writer may have committed (True) or `timeout` passed.
    Within one process the caller serialises these calls (MeshStore's write lock).

    A single-writer store (SQLite: one owner process, `sqlite.py`) implements them trivially:
    nothing is ever committed by anyone else, so `begin` and `changes` return no changes.
    """

    def load(self) -> list[Record]: ...

    def begin(self) -> Changes: ...

    def commit(self, puts: Iterable[Record], deletes: Iterable[Key]) -> None: ...

    def abort(self) -> None: ...

    def changes(self) -> Changes: ...

    def wait(self, timeout: float) -> bool: ...

    def close(self) -> None: ...
