"""The embedded store: one SQLite file in WAL mode, one transaction per write.

Durability: `synchronous=FULL` makes every COMMIT fsync the WAL, so a write acknowledged with a
200 survives kill -9 and power loss (NORMAL would only survive a process crash).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from proxyinit.errors import ConfigError, RuntimeFailure
from proxyinit.store.base import Changes, Key, Record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, mesh TEXT NOT NULL, router TEXT NOT NULL, name TEXT NOT NULL,
    spec TEXT NOT NULL, uid TEXT NOT NULL, arn TEXT NOT NULL, version INTEGER NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, tags TEXT NOT NULL,
    client_token TEXT NOT NULL, request_digest TEXT NOT NULL, owner TEXT NOT NULL,
    PRIMARY KEY (kind, mesh, router, name)
);
"""
_COLUMNS = "kind, mesh, router, name, spec, uid, arn, version, created_at, updated_at, tags, client_token, request_digest, owner"


class SqliteStore:
    """Store on a SQLite file. Thread-safe (one connection behind a lock) so commits can run
    in a worker thread while the event loop keeps serving.

    One process owns a store file at a time (flocks released by the kernel even on kill -9): the
    owner serves reads from memory, so a second writer would go unseen and its writes be lost.
    The locks are on the database file itself (a hard link or bind mount shares its inode) and
    on `<resolved path>.lock` (a symlink resolves to the same name).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._owners = _take_ownership(self.path)
        try:
            self._db = sqlite3.connect(
                self.path.resolve(), isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as err:
            _release(self._owners)
            raise ConfigError(f"--db {str(self.path)!r}: cannot open the store ({err})") from None
        self._lock = threading.Lock()

    def load(self) -> list[Record]:
        with self._lock:
            try:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM resources ORDER BY kind, mesh, router, name"
                ).fetchall()
            except sqlite3.Error as err:
                raise RuntimeFailure(f"store {str(self.path)!r}: cannot read it ({err})") from None
        return [_record(row) for row in rows]

    def commit(self, puts: Iterable[Record], deletes: Iterable[Key]) -> None:
        puts, deletes = list(puts), list(deletes)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for key in deletes:
                    self._db.execute(
                        "DELETE FROM resources WHERE kind=? AND mesh=? AND router=? AND name=?",
                        (key.kind, key.mesh, key.router, key.name),
                    )
                self._db.executemany(
                    f"INSERT OR REPLACE INTO resources ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                    [_row(r) for r in puts],
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise RuntimeFailure(
                    f"store {str(self.path)!r}: write failed, nothing changed ({err})"
                ) from None

    # One owner process (the flocks above): nobody else ever commits, nothing to catch up on.
    def begin(self) -> Changes:
        return Changes()

    def abort(self) -> None:
        pass

    def changes(self) -> Changes:
        return Changes()

    def wait(self, timeout: float) -> bool:
        time.sleep(timeout)
        return False

    def close(self) -> None:
        with self._lock:
            if not self._owners:
                return
            self._db.close()
            # After SQLite closed the file: closing any descriptor of it drops the process's
            # POSIX locks on it, SQLite's own included (flock and POSIX locks are separate).
            _release(self._owners)
            self._owners = []


def _take_ownership(path: Path) -> list[int]:
    """flock the database file and `<resolved>.lock`; ConfigError if another owner holds one."""
    resolved = path.resolve()
    owners: list[int] = []
    try:
        for lock_path in (f"{resolved}.lock", str(resolved)):
            owners.append(_flock(path, lock_path))
    except BaseException:
        _release(owners)
        raise
    return owners


def _flock(path: Path, lock_path: str) -> int:
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as err:
        raise ConfigError(
            f"--db {str(path)!r}: cannot open {lock_path!r} ({err.strerror or err})"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"--db {str(path)!r}: in use by another process (a running `xds serve`? "
            "apply through its API: `proxyinit mesh apply -f FILE --endpoint-url URL`)"
        ) from None
    return fd


def _release(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)  # releases its flock


def _row(r: Record) -> tuple:
    k = r.key
    return (
        k.kind,
        k.mesh,
        k.router,
        k.name,
        json.dumps(r.spec, sort_keys=True),
        r.uid,
        r.arn,
        r.version,
        r.created_at,
        r.updated_at,
        json.dumps([list(t) for t in r.tags]),
        r.client_token,
        r.request_digest,
        r.owner,
    )


def _record(row: tuple) -> Record:
    (
        kind,
        mesh,
        router,
        name,
        spec,
        uid,
        arn,
        version,
        created,
        updated,
        tags,
        token,
        digest,
        owner,
    ) = row
    return Record(
        Key(kind, mesh, router, name),
        json.loads(spec),
        uid,
        arn,
        version,
        created,
        updated,
        tuple((k, v) for k, v in json.loads(tags)),
        token,
        digest,
        owner,
    )
