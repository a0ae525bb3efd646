"""MeshStore: App Mesh resources with App Mesh's write rules, durable, published on commit.

Every write (create, update, delete, tag, apply) flows one way, under one lock:
1. validate: compute the would-be records of the affected mesh and build the would-be
   MeshModel exactly as the mesh file is;
2. prepare: the `WritePipeline` turns it into what will be served (the control plane translates
   it for Envoy here), so nothing accepted can be NACKed, and it is translated once;
3. commit puts and deletes in ONE store transaction (durable before returning);
4. swap the in-memory state and publish what step 2 prepared.

Reads are served from memory: the store file is written by this process only, or, with
replicas sharing a PostgreSQL store, each write first absorbs the others' (store/replica.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Protocol

from proxyinit.errors import ConfigError
from proxyinit.mesh.model.build import build_mesh
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.store.apply import plan_mesh_apply
from proxyinit.store.base import PARENT, Key, Record, Store
from proxyinit.store.constraints import check_parents, check_unused
from proxyinit.store.errors import Conflict, InUse, Invalid, NotFound
from proxyinit.store.incremental import Rebuilder, landed, off_loop
from proxyinit.store.records import (
    arn_of,
    bumped,
    check_tags,
    check_unique,
    describe,
    digest,
    order,
    parse,
    token_note,
)
from proxyinit.store.replica import absorb
from proxyinit.store.tokens import RecentTokens

log = logging.getLogger(__name__)


class WritePipeline(Protocol):
    """What a write is served by. Contract: `prepare` gets the would-be model of every mesh a
    write changes (None: the mesh is deleted) and returns what to serve, or raises ConfigError
    (the write is then refused, nothing changed); it must not change what is served, and runs in
    a worker thread (never two at once for one store). `publish` serves what `prepare` returned,
    once the write is durable, on the event loop; it must not fail."""

    def prepare(self, meshes: Mapping[str, MeshModel | None]) -> object: ...

    def publish(self, prepared: object) -> object: ...


class Unpublished:
    """The pipeline of a store nobody serves (`mesh apply --db`, store tests)."""

    def prepare(self, meshes: Mapping[str, MeshModel | None]) -> object:
        return None

    def publish(self, prepared: object) -> None:
        pass


class MeshStore:
    """The validated, durable set of meshes; every write goes through `pipeline`."""

    def __init__(
        self,
        store: Store,
        account: str = "000000000000",
        region: str = "us-east-1",
        pipeline: WritePipeline | None = None,
        clock: Callable[[], float] = time.time,
        incremental: bool = True,
    ):
        self.store, self.account, self.region = store, account, region
        # A write to a mesh revalidates what it changed, from the last model (model/rebuild.py);
        # False: each write builds its mesh whole (the tests compare the two).
        self.incremental = incremental
        self.pipeline = pipeline or Unpublished()
        self.clock = clock
        self.records: dict[Key, Record] = {}
        self.meshes: dict[str, MeshModel] = {}
        self._parsed: dict[Key, tuple[Record, object]] = {}
        self._rebuilder = Rebuilder()
        self._lock = asyncio.Lock()
        self._tokens = RecentTokens(clock)
        self._reload()

    # ------------------------------------------------------------------ reads
    def get(self, key: Key) -> Record:
        record = self.records.get(key)
        if record is None:
            raise NotFound(f"{describe(key)} does not exist")
        return record

    def children(self, kind: str, mesh: str, router: str = "") -> list[Record]:
        """Records of one kind in a mesh (and router), by name; NotFound if the parent is missing."""
        self.get(Key("Mesh", mesh, "", mesh))
        if kind in PARENT:
            self.get(Key(PARENT[kind][0], mesh, "", router))
        return sorted(
            (
                r
                for k, r in self.records.items()
                if k.kind == kind and k.mesh == mesh and k.router == router and kind != "Mesh"
            ),
            key=lambda r: r.key.name,
        )

    @property
    def write_lock(self) -> asyncio.Lock:
        """Held by every write from validate to publish; hold it to publish from outside."""
        return self._lock

    def meshes_records(self) -> list[Record]:
        return sorted(
            (r for k, r in self.records.items() if k.kind == "Mesh"), key=lambda r: r.key.name
        )

    def by_arn(self, arn: str) -> Record:
        for record in self.records.values():
            if record.arn == arn:
                return record
        from proxyinit.contract import echo

        raise NotFound(f"no resource with arn {echo(arn, 300)}")

    # ------------------------------------------------------------------ writes
    async def create(
        self,
        key: Key,
        spec: object,
        tags: Iterable[tuple[str, str]] = (),
        token: str = "",
        region: str | None = None,
    ) -> Record:
        tags = check_tags(tags)
        request = digest(spec, tags)
        async with self._writing():
            replayed = self._tokens.replay(key, token, request, describe(key))
            if replayed is not None:
                return replayed  # a retry or replay of a create of the last 15 minutes
            existing = self.records.get(key)
            if existing is not None:
                if token and existing.client_token == token and existing.request_digest == request:
                    return existing  # a retry of the create that made it
                raise Conflict(f"{describe(key)} already exists" + token_note(existing, token))
            check_parents(self.records, key)
            spec = parse(key, spec).spec.to_api()
            record = self.new_record(key, spec, tags, None, token, request, region)
            await self._write(key.mesh, [record], [])
            self._tokens.remember(key, token, request, record)
            return record

    async def update(self, key: Key, spec: object, token: str = "") -> Record:
        request = digest(spec, None)
        async with self._writing():
            existing = self.get(key)
            replayed = self._tokens.replay(key, token, request, describe(key))
            if replayed is not None:
                return replayed  # a retry or replay of an update of the last 15 minutes
            if token and existing.client_token == token:
                if existing.request_digest == request:
                    return existing  # a retry of the update that made this version
                raise Conflict(
                    f"clientToken {token!r} was already used for another request on {describe(key)}"
                )
            spec = parse(key, spec).spec.to_api()
            record = self.new_record(key, spec, (), existing, token, request)
            await self._write(key.mesh, [record], [])
            self._tokens.remember(key, token, request, record)
            return record

    async def delete(self, key: Key) -> Record:
        async with self._writing():
            existing = self.get(key)
            check_unused(self.records, key)
            await self._write(key.mesh, [], [key], deleting=True)
            return existing

    async def set_tags(
        self, arn: str, add: Iterable[tuple[str, str]] = (), remove: Iterable[str] = ()
    ) -> Record:
        async with self._writing():
            existing = self.by_arn(arn)
            add = list(add)
            check_unique(key for key, _ in add)
            tags = dict(existing.tags)
            tags.update(dict(add))
            for name in remove:
                tags.pop(name, None)
            record = replace(existing, tags=check_tags(sorted(tags.items())))
            await self._write(existing.key.mesh, [record], [])
            return record

    async def apply(
        self, models: Mapping[str, MeshModel], declared: set[str] | None = None
    ) -> list[tuple[str, Key]]:
        """Create or update every resource of already-built meshes (a mesh file); one transaction.

        Resources of those meshes that the file does not name are left alone, and so is a stored
        mesh the file names but does not declare (`declared`: the meshes it does; None: all).
        Returns [(created|updated|unchanged, key)]."""
        async with self._writing():
            puts, outcome = plan_mesh_apply(self.records, self.new_record, models, declared)
            # The records are the source: each changed mesh is rebuilt from what will be stored
            # (stored resources the file does not name included), as any other write is.
            would_be, prepared = await off_loop(self._validate_and_prepare_all, puts)
            await self._commit(puts, [], would_be, prepared)
            return outcome

    # ------------------------------------------------------------------ internals
    @contextlib.asynccontextmanager
    async def _writing(self):
        """The write lock of this process, then of the store (other replicas' writes wait), with
        what they committed absorbed first: every write validates against the latest state."""
        async with self._lock:
            try:
                await absorb(self, await off_loop(self.store.begin))
                yield
            finally:
                await off_loop(self.store.abort)  # a no-op once committed

    def new_record(
        self,
        key: Key,
        spec: dict,
        tags: Iterable[tuple[str, str]] = (),
        existing: Record | None = None,
        token: str = "",
        request: str = "",
        region: str | None = None,
    ) -> Record:
        """A new resource's first version (`existing` None), or the next version of `existing`
        (its tags kept); `token` and `request` make a retry of the same write idempotent."""
        now = self.clock()
        if existing is not None:
            return bumped(existing, now, spec=spec, client_token=token, request_digest=request)
        arn = arn_of(key, region or self.region, self.account)
        return Record(
            key,
            spec,
            str(uuid.uuid4()),
            arn,
            1,
            now,
            now,
            check_tags(tags),
            token,
            request,
            self.account,
        )

    async def _write(
        self, mesh: str, puts: list[Record], deletes: list[Key], deleting: bool = False
    ) -> None:
        try:
            model, prepared = await off_loop(self._validate_and_prepare, mesh, puts, deletes)
        except Invalid as err:
            if deleting:
                raise InUse(f"{describe(deletes[0])} is in use: {err}") from None
            raise
        await self._commit(puts, deletes, {mesh: model}, prepared)

    def _validate_and_prepare(
        self, mesh: str, puts: list[Record], deletes: list[Key]
    ) -> tuple[MeshModel | None, object]:
        """Steps 1 and 2 of a write to one mesh (in the worker thread)."""
        model = None
        if self.incremental and not any(
            k.kind == "Mesh" for k in [*deletes, *(r.key for r in puts)]
        ):
            model = self._rebuilder.rebuild(
                self.meshes.get(mesh), [self._model(r) for r in puts], deletes
            )
        if model is None:  # a first write, the mesh resource itself, see model/rebuild.py
            model = self._validate(mesh, self._would_be(mesh, puts, deletes))
        return model, self._prepare({mesh: model})

    def _validate_and_prepare_all(self, puts: list[Record]) -> tuple[dict, object]:
        """Steps 1 and 2 of an apply: each changed mesh rebuilt from what will be stored
        (stored resources the file does not name included), as any other write is."""
        would_be = {
            mesh: self._validate(
                mesh, self._would_be(mesh, [r for r in puts if r.key.mesh == mesh], [])
            )
            for mesh in sorted({r.key.mesh for r in puts})
        }
        return would_be, self._prepare(would_be)

    def _prepare(self, models: Mapping[str, MeshModel | None]) -> object:
        try:
            return self.pipeline.prepare(models)
        except ConfigError as err:
            raise Invalid(str(err)) from None

    def _would_be(self, mesh: str, puts: list[Record], deletes: list[Key]) -> dict[Key, Record]:
        candidate = {k: r for k, r in self.records.items() if k.mesh == mesh}
        for key in deletes:
            candidate.pop(key, None)
        candidate.update({r.key: r for r in puts})
        return candidate

    def _validate(self, mesh: str, candidate: dict[Key, Record]) -> MeshModel | None:
        mesh_record = candidate.get(Key("Mesh", mesh, "", mesh))
        if mesh_record is None:
            return None  # the mesh itself is being deleted (only once it is empty)
        members = [
            self._model(r)
            for k, r in sorted(candidate.items(), key=lambda kv: order(kv[0]))
            if k.kind != "Mesh"
        ]
        try:
            model = build_mesh(self._model(mesh_record), members)
        except ConfigError as err:
            raise Invalid(str(err)) from None
        return model

    async def _commit(
        self,
        puts: list[Record],
        deletes: list[Key],
        models: Mapping[str, MeshModel | None],
        prepared: object,
    ) -> None:
        """Commit and swap as one step that a cancelled caller (a client hanging up mid-request)
        cannot split: the thread's commit lands on disk regardless, so memory must follow it. The
        caller's lock stays held until both are done, or the next write would plan from stale memory."""
        await landed(self._commit_and_swap(puts, deletes, models, prepared))

    async def _commit_and_swap(
        self,
        puts: list[Record],
        deletes: list[Key],
        models: Mapping[str, MeshModel | None],
        prepared: object,
    ) -> None:
        # In a worker thread: the fsync must not stall the gRPC streams on this event loop.
        await asyncio.to_thread(self.store.commit, puts, deletes)
        for key in deletes:
            self.records.pop(key, None)
            self._parsed.pop(key, None)
        self.records.update({r.key: r for r in puts})
        self._rebuilder.follow(models)
        for mesh, model in models.items():
            if model is None:
                self.meshes.pop(mesh, None)
            else:
                self.meshes[mesh] = model
        self.pipeline.publish(prepared)

    def _model(self, record: Record):
        # Records are immutable, so a parse is reused for as long as the record object lives.
        cached = self._parsed.get(record.key)
        if cached is not None and cached[0] is record:
            return cached[1]
        model = parse(record.key, record.spec)
        self._parsed[record.key] = (record, model)
        return model

    def _reload(self) -> None:
        """Load every record; meshes that no longer validate are reported, never half-served."""
        self.records = {r.key: r for r in self.store.load()}
        for mesh in sorted({k.mesh for k in self.records if k.kind == "Mesh"}):
            try:
                self.meshes[mesh] = self._validate(mesh, self._would_be(mesh, [], []))
            except ConfigError as err:  # e.g. stricter validation after an upgrade: serve the rest
                log.error("stored mesh %r no longer validates and is not served: %s", mesh, err)
