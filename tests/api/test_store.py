"""MeshStore on a real store, without HTTP: App Mesh's write rules and durability.

Each test runs on both backends (`open_store`: a SQLite file, a fresh database on the session's
real PostgreSQL server) unless it is about one of them."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest

from proxyinit.mesh.model.meshfile import load_mesh_file
from proxyinit.store import errors
from proxyinit.store.base import Key
from proxyinit.store.meshes import MeshStore
from proxyinit.store.postgres import PostgresStore
from proxyinit.store.sqlite import SqliteStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "colorapp"
ROUTE = Key("Route", "default", "colorteller-vr", "colorteller-route")


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request, tmp_path):
    """Opens a new Store object on the test's database (the same one each time)."""
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "m.db")
    url = request.getfixturevalue("postgres_url")
    return lambda: PostgresStore(url)


SQLITE_ONLY = pytest.mark.parametrize("open_store", ["sqlite"], indirect=True)


@pytest.fixture
async def store(open_store):
    opened = MeshStore(open_store())
    await opened.apply(load_mesh_file(EXAMPLES / "mesh.yaml"))
    yield opened
    opened.store.close()


def route_spec(weight: int) -> dict:
    return {
        "httpRoute": {
            "match": {"prefix": "/"},
            "action": {"weightedTargets": [{"virtualNode": "colorteller-vn", "weight": weight}]},
        }
    }


@SQLITE_ONLY
async def test_sqlite_reopens_in_wal_mode_with_synchronous_full(store, tmp_path):
    """The settings that make each COMMIT fsync the WAL (the fsync itself is SQLite's to test)."""
    store.store.close()
    reopened = SqliteStore(tmp_path / "m.db")
    try:
        assert reopened._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert reopened._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    finally:
        reopened.close()
    other = sqlite3.connect(tmp_path / "m.db")  # WAL is a property of the file, seen by any reader
    try:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        other.close()


@contextlib.contextmanager
def reopened(open_store):
    """A second MeshStore on the database (the first one closed), closed again so a SQLite
    file's flock is released now."""
    again = MeshStore(open_store() if callable(open_store) else SqliteStore(open_store))
    try:
        yield again
    finally:
        again.store.close()


def assert_file_is_free(open_store) -> None:
    open_store().close()  # SQLite: ConfigError "in use by another process" if a store was left open


async def test_versions_and_reload(store, open_store):
    first = store.get(ROUTE)
    updated = await store.update(ROUTE, route_spec(3))
    assert (updated.version, updated.uid, updated.created_at) == (2, first.uid, first.created_at)
    store.store.close()
    with reopened(open_store) as again:
        assert again.records == store.records
        assert again.meshes["default"].routes == store.meshes["default"].routes
    assert_file_is_free(open_store)


async def test_refusals_store_nothing(store, open_store):
    before = dict(store.records)
    with pytest.raises(errors.Invalid, match=r"weightedTargets\[0\].weight"):
        await store.update(ROUTE, route_spec(101))
    with pytest.raises(errors.Conflict):
        await store.create(Key("Mesh", "default", "", "default"), None)
    with pytest.raises(errors.NotFound):
        await store.create(Key("VirtualNode", "nope", "", "n"), {})
    with pytest.raises(errors.InUse):
        await store.delete(Key("VirtualNode", "default", "", "colorteller-vn"))
    assert store.records == before
    store.store.close()
    with reopened(open_store) as again:
        assert again.records == before
    assert_file_is_free(open_store)


@SQLITE_ONLY
async def test_one_process_owns_a_store_file(store, tmp_path):
    with pytest.raises(errors.ConfigError, match="in use by another process"):
        SqliteStore(tmp_path / "m.db")
    store.store.close()
    SqliteStore(tmp_path / "m.db").close()  # free again once the owner closed it


@SQLITE_ONLY
@pytest.mark.parametrize("alias", ["symlink", "symlinked directory", "hard link"])
async def test_a_second_owner_through_another_path_is_refused(store, tmp_path, alias):
    """Two owners of one file through a symlink lost acknowledged writes: the lock is taken on
    the resolved path and on the database file itself (a hard link shares its inode)."""
    other = tmp_path / "other"
    other.mkdir()
    if alias == "symlink":
        path = other / "link.db"
        path.symlink_to(tmp_path / "m.db")
    elif alias == "symlinked directory":
        (other / "dir").symlink_to(tmp_path)
        path = other / "dir" / "m.db"
    else:
        path = other / "hard.db"
        path.hardlink_to(tmp_path / "m.db")
    with pytest.raises(errors.ConfigError, match="in use by another process"):
        SqliteStore(path)
    store.store.close()
    with reopened(path) as again:  # free once the owner closed it, whatever the path
        assert again.records == store.records


class RecordingPipeline:
    """Records what the store asks to prepare and to publish."""

    def __init__(self, refuse: str = "") -> None:
        self.prepared: list[dict] = []
        self.published: list[object] = []
        self.refuse = refuse

    def prepare(self, meshes):
        if self.refuse:
            from proxyinit.errors import ConfigError

            raise ConfigError(self.refuse)
        self.prepared.append(dict(meshes))
        return ("prepared", len(self.prepared))

    def publish(self, prepared) -> None:
        self.published.append(prepared)


async def test_each_accepted_write_is_prepared_once_then_published(open_store):
    pipeline = RecordingPipeline()
    store = MeshStore(open_store(), pipeline=pipeline)
    try:
        await store.apply(load_mesh_file(EXAMPLES / "mesh.yaml"))
        await store.update(ROUTE, route_spec(5))
        assert pipeline.published == [("prepared", 1), ("prepared", 2)]
        meshes = pipeline.prepared[-1]
        assert meshes["default"].routes["colorteller-vr"][0].spec.to_api() == route_spec(5)
        with pytest.raises(errors.Invalid):
            await store.update(ROUTE, route_spec(101))
        assert len(pipeline.prepared) == 2 and len(pipeline.published) == 2  # refused: nothing
    finally:
        store.store.close()


async def test_a_write_the_pipeline_cannot_prepare_is_refused_and_not_stored(open_store):
    pipeline = RecordingPipeline()
    store = MeshStore(open_store(), pipeline=pipeline)
    try:
        await store.apply(load_mesh_file(EXAMPLES / "mesh.yaml"))
        pipeline.refuse = "Envoy would refuse this"
        with pytest.raises(errors.Invalid, match="Envoy would refuse this"):
            await store.update(ROUTE, route_spec(5))
        assert store.get(ROUTE).version == 1 and len(pipeline.published) == 1
    finally:
        store.store.close()
    reopened = MeshStore(open_store())
    try:
        assert reopened.get(ROUTE).version == 1  # nothing of the refused write reached the disk
    finally:
        reopened.store.close()


async def test_apply_twice_is_a_no_op(store):
    outcome = await store.apply(load_mesh_file(EXAMPLES / "mesh.yaml"))
    assert {result for result, _ in outcome} == {"unchanged"}
    assert store.get(ROUTE).version == 1


class GatedStore:
    """The real store, with each commit held in its worker thread until the test opens the gate."""

    def __init__(self, inner):
        self.inner = inner
        self.committing, self.gate, self.committed = (
            threading.Event(),
            threading.Event(),
            threading.Event(),
        )

    def load(self):
        return self.inner.load()

    def commit(self, puts, deletes):
        self.committing.set()
        assert self.gate.wait(10), "the test never opened the gate"
        self.inner.commit(puts, deletes)
        self.committed.set()

    def close(self):
        self.inner.close()

    def __getattr__(self, name: str):
        return getattr(self.inner, name)  # begin, abort, ...


async def cancelled_mid_commit(store: MeshStore, spec: dict) -> tuple[GatedStore, asyncio.Task]:
    """Start an update of ROUTE and cancel it while its commit runs (a client hanging up)."""
    gated = store.store = GatedStore(store.store)
    write = asyncio.create_task(store.update(ROUTE, spec))
    assert await asyncio.to_thread(gated.committing.wait, 5)
    write.cancel()
    await asyncio.sleep(0.05)
    return gated, write


async def test_a_write_cancelled_mid_commit_lands_in_memory_as_on_disk(store, open_store):
    gated, write = await cancelled_mid_commit(store, route_spec(7))
    gated.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await write
    assert await asyncio.to_thread(gated.committed.wait, 5)
    await asyncio.sleep(0.05)
    store.store = gated.inner
    store.store.close()
    with reopened(open_store) as again:
        assert again.get(ROUTE).version == 2  # the commit itself went through
        assert again.records == store.records
        assert again.meshes["default"].routes == store.meshes["default"].routes


async def test_the_next_write_waits_for_a_cancelled_one_to_land(store):
    gated, write = await cancelled_mid_commit(store, route_spec(7))
    try:
        after = asyncio.create_task(store.update(ROUTE, route_spec(9)))
        await asyncio.sleep(0.05)
    finally:
        gated.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await write
    assert (await after).version == 3  # planned from the landed version 2, not from stale memory
    assert {r.key: r for r in gated.inner.load()} == store.records


async def test_a_replayed_older_update_or_create_writes_nothing(store):
    """A signed request can be replayed for 15 minutes (as on AWS). With a clientToken, a replay
    of an older update must not revert a newer one, nor a replayed create recreate a deleted
    resource: tokens of the last 15 minutes are remembered per resource, not only the last."""
    first = await store.update(ROUTE, route_spec(3), "token-a")
    second = await store.update(ROUTE, route_spec(4), "token-b")
    replayed = await store.update(ROUTE, route_spec(3), "token-a")
    assert replayed == first  # the answer the original request got
    assert store.get(ROUTE) == second
    with pytest.raises(errors.Conflict, match="token-a"):
        await store.update(ROUTE, route_spec(5), "token-a")  # the token, another request
    mesh = Key("Mesh", "other", "", "other")
    created = await store.create(mesh, None, (), "token-c")
    await store.delete(mesh)
    assert await store.create(mesh, None, (), "token-c") == created
    assert mesh not in store.records
