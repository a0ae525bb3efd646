"""MeshStore on a real SQLite file, without HTTP: App Mesh's write rules and durability."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from proxyinit.mesh.meshfile import load_mesh_file
from proxyinit.store import errors
from proxyinit.store.base import Key
from proxyinit.store.meshes import MeshStore
from proxyinit.store.sqlite import SqliteStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "colorapp"
ROUTE = Key("Route", "default", "colorteller-vr", "colorteller-route")


@pytest.fixture
async def store(tmp_path):
    opened = MeshStore(SqliteStore(tmp_path / "m.db"))
    await opened.apply(load_mesh_file(EXAMPLES / "mesh.yaml"))
    yield opened
    opened.store.close()


def route_spec(weight: int) -> dict:
    return {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "colorteller-vn", "weight": weight}]}}}


async def test_sqlite_is_wal_and_fsyncs_every_commit(store):
    db = sqlite3.connect(store.store.path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert store.store._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


async def test_versions_and_reload(store, tmp_path):
    first = store.get(ROUTE)
    updated = await store.update(ROUTE, route_spec(3))
    assert (updated.version, updated.uid, updated.created_at) == (2, first.uid, first.created_at)
    store.store.close()
    again = MeshStore(SqliteStore(tmp_path / "m.db"))
    assert again.records == store.records
    assert again.meshes["default"].routes == store.meshes["default"].routes


async def test_refusals_store_nothing(store, tmp_path):
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
    assert MeshStore(SqliteStore(tmp_path / "m.db")).records == before


async def test_one_process_owns_a_store_file(store, tmp_path):
    with pytest.raises(errors.ConfigError, match="in use by another process"):
        SqliteStore(tmp_path / "m.db")
    store.store.close()
    SqliteStore(tmp_path / "m.db").close()  # free again once the owner closed it


async def test_changes_yields_after_each_accepted_write(store):
    changes = store.changes()
    await store.update(ROUTE, route_spec(5))
    meshes = await changes.__anext__()
    assert meshes["default"].routes["colorteller-vr"][0].spec.to_api() == route_spec(5)
    await changes.aclose()


async def test_apply_twice_is_a_no_op(store):
    outcome = await store.apply(load_mesh_file(EXAMPLES / "mesh.yaml"))
    assert {result for result, _ in outcome} == {"unchanged"}
    assert store.get(ROUTE).version == 1
