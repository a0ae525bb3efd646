"""The shared store: PostgreSQL, written by any number of `xds serve` replicas (psycopg 3).

Every write is numbered: `proxyinit_sequence` holds the number of the last committed write and
each resource row the number of the write that put it (`proxyinit_deletions` likewise for the
keys deleted). A write locks the sequence row (`SELECT ... FOR UPDATE`, held to COMMIT), so
writes commit one at a time, in number order, across every replica: a replica that saw write N
has seen every write before it, and "what changed since N" is two indexed reads. `begin` takes
that lock and returns the changes the caller has not seen; the caller validates against them,
then `commit` writes, bumps the number and NOTIFYs it (delivered at COMMIT) to the other
replicas, which LISTEN on their own connection (`wait`).

Durability: PostgreSQL's default `synchronous_commit=on`: COMMIT returns once the WAL is
flushed, so a write acknowledged with a 200 survives kill -9 of any replica.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from proxyinit.errors import ConfigError, RuntimeFailure
from proxyinit.store.base import Changes, Key, Record
from proxyinit.store.sqlite import _record, _row
from proxyinit.store.tokens import WINDOW_SECONDS

CHANNEL = "proxyinit_changes"
_SCHEMA_LOCK = 0x70726F78  # pg_advisory_xact_lock key: replicas starting together create it once
_SCHEMA = """
CREATE TABLE IF NOT EXISTS proxyinit_resources (
    kind TEXT NOT NULL, mesh TEXT NOT NULL, router TEXT NOT NULL, name TEXT NOT NULL,
    spec TEXT NOT NULL, uid TEXT NOT NULL, arn TEXT NOT NULL, version BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
    tags TEXT NOT NULL, client_token TEXT NOT NULL, request_digest TEXT NOT NULL,
    owner TEXT NOT NULL, seq BIGINT NOT NULL,
    PRIMARY KEY (kind, mesh, router, name)
);
CREATE INDEX IF NOT EXISTS proxyinit_resources_seq ON proxyinit_resources (seq);
CREATE TABLE IF NOT EXISTS proxyinit_deletions (
    kind TEXT NOT NULL, mesh TEXT NOT NULL, router TEXT NOT NULL, name TEXT NOT NULL,
    seq BIGINT NOT NULL, PRIMARY KEY (kind, mesh, router, name)
);
CREATE INDEX IF NOT EXISTS proxyinit_deletions_seq ON proxyinit_deletions (seq);
CREATE TABLE IF NOT EXISTS proxyinit_tokens (
    kind TEXT NOT NULL, mesh TEXT NOT NULL, router TEXT NOT NULL, name TEXT NOT NULL,
    spec TEXT NOT NULL, uid TEXT NOT NULL, arn TEXT NOT NULL, version BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
    tags TEXT NOT NULL, client_token TEXT NOT NULL, request_digest TEXT NOT NULL,
    owner TEXT NOT NULL, seq BIGINT NOT NULL, at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (kind, mesh, router, name, client_token)
);
CREATE INDEX IF NOT EXISTS proxyinit_tokens_seq ON proxyinit_tokens (seq);
CREATE TABLE IF NOT EXISTS proxyinit_sequence (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), last BIGINT NOT NULL
);
INSERT INTO proxyinit_sequence VALUES (TRUE, 0) ON CONFLICT DO NOTHING;
"""
_COLUMNS = (
    "kind, mesh, router, name, spec, uid, arn, version, created_at, updated_at, tags, "
    "client_token, request_digest, owner"
)
_KEY = "kind=%s AND mesh=%s AND router=%s AND name=%s"
_TOKEN = (
    f"INSERT INTO proxyinit_tokens ({_COLUMNS}, seq, at) VALUES ({', '.join(['%s'] * 16)}) "
    "ON CONFLICT (kind, mesh, router, name, client_token) DO UPDATE SET "
    + ", ".join(f"{c.strip()}=EXCLUDED.{c.strip()}" for c in _COLUMNS.split(",")[4:])
    + ", seq=EXCLUDED.seq, at=EXCLUDED.at"
)
_UPSERT = (
    f"INSERT INTO proxyinit_resources ({_COLUMNS}, seq) VALUES ({', '.join(['%s'] * 15)}) "
    "ON CONFLICT (kind, mesh, router, name) DO UPDATE SET "
    + ", ".join(f"{c.strip()}=EXCLUDED.{c.strip()}" for c in _COLUMNS.split(",")[4:])
    + ", seq=EXCLUDED.seq"
)


class PostgresStore:
    """Store on a PostgreSQL database. Calls are serialised by the caller (MeshStore's write
    lock), except `wait`, which uses a connection of its own."""

    def __init__(self, url: str):
        self.url, self.seq = url, 0
        self.name = safe_url(url)
        self._held = False  # inside begin() .. commit()/abort(): the sequence row is locked
        self._db = self._connect()
        self._pid = self._db.info.backend_pid  # our own NOTIFYs come from it: not news
        self._listen = None
        try:
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                self._db.execute(_SCHEMA)
            self._listen = self._connect()
            self._listen.execute(f"LISTEN {CHANNEL}")
        except Exception as err:
            self.close()
            raise ConfigError(
                f"--db {self.name!r}: cannot set up the store ({_first_line(err)})"
            ) from None

    def _connect(self):
        try:
            import psycopg
        except ImportError:
            raise ConfigError(
                f"--db {self.name!r}: PostgreSQL needs psycopg: pip install 'proxyinit[postgres]'"
            ) from None
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            # A replica that stops mid-write (hung, cut off) must not stall the others for good:
            # its transaction ends after 30 s idle, and a write waits at most 10 s for the lock.
            conn.execute("SET idle_in_transaction_session_timeout = '30s'")
            conn.execute("SET lock_timeout = '10s'")
            return conn
        except psycopg.Error as err:
            raise ConfigError(f"--db {self.name!r}: cannot connect ({_first_line(err)})") from None

    # ------------------------------------------------------------------ reads
    def load(self) -> list[Record]:
        return list(self._read(0).puts)

    def changes(self) -> Changes:
        return self._read(self.seq)

    def _read(self, since: int) -> Changes:
        """One consistent snapshot (REPEATABLE READ): the last number and what came after `since`."""
        import psycopg

        try:
            with self._db.transaction():
                self._db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                changes = self._changes_since(since)
        except psycopg.Error as err:
            raise RuntimeFailure(
                f"store {self.name!r}: cannot read it ({_first_line(err)})"
            ) from None
        self.seq = changes.seq
        return changes

    def _changes_since(self, since: int) -> Changes:
        last = self._db.execute("SELECT last FROM proxyinit_sequence").fetchone()[0]
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM proxyinit_resources WHERE seq > %s "
            "ORDER BY kind, mesh, router, name",
            (since,),
        ).fetchall()
        gone = self._db.execute(
            "SELECT kind, mesh, router, name FROM proxyinit_deletions WHERE seq > %s", (since,)
        ).fetchall()
        versions = self._db.execute(
            f"SELECT {_COLUMNS} FROM proxyinit_tokens WHERE seq > %s ORDER BY seq", (since,)
        ).fetchall()
        return Changes(
            last,
            tuple(_record(row) for row in rows),
            tuple(Key(*g) for g in gone),
            tuple(_record(row) for row in versions),
        )

    # ------------------------------------------------------------------ writes
    def begin(self) -> Changes:
        """Lock the sequence row (other replicas' writes wait) and return what they committed."""
        import psycopg

        self.abort()  # a write that never ended (it cannot happen under MeshStore's lock)
        try:
            self._lock_sequence()
            changes = self._changes_since(self.seq)
        except psycopg.Error as err:
            self.abort()
            raise RuntimeFailure(
                f"store {self.name!r}: cannot read it ({_first_line(err)})"
            ) from None
        self.seq = changes.seq
        return changes

    def _lock_sequence(self) -> int:
        if self._db.broken:
            self._db = self._connect()  # the server restarted, or the connection was cut
            self._pid = self._db.info.backend_pid
        self._db.execute("BEGIN")
        self._held = True
        return self._db.execute("SELECT last FROM proxyinit_sequence FOR UPDATE").fetchone()[0]

    def commit(self, puts: Iterable[Record], deletes: Iterable[Key]) -> None:
        import psycopg

        puts, deletes = list(puts), list(deletes)
        seen = self._held  # begin() delivered every change before ours
        try:
            last = self._lock_sequence() if not self._held else self.seq
            seen = seen or last == self.seq
            seq = last + 1
            self._write(seq, puts, deletes)
            self._db.execute("COMMIT")
        except psycopg.Error as err:
            self.abort()
            raise RuntimeFailure(
                f"store {self.name!r}: write failed, nothing changed ({_first_line(err)})"
            ) from None
        self._held = False
        if seen:
            self.seq = seq

    def _write(self, seq: int, puts: list[Record], deletes: list[Key]) -> None:
        db = self._db
        with db.cursor() as cur:
            for key in deletes:
                cur.execute(f"DELETE FROM proxyinit_resources WHERE {_KEY}", _key(key))
                cur.execute(
                    "INSERT INTO proxyinit_deletions VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT (kind, mesh, router, name) DO UPDATE SET seq=EXCLUDED.seq",
                    (*_key(key), seq),
                )
            if puts:
                cur.executemany(_UPSERT, [(*_row(r), seq) for r in puts])
                cur.executemany(
                    f"DELETE FROM proxyinit_deletions WHERE {_KEY}", [_key(r.key) for r in puts]
                )
            self._write_tokens(cur, seq, [r for r in puts if r.client_token])
            cur.execute("UPDATE proxyinit_sequence SET last = %s", (seq,))
            cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(seq)))

    @staticmethod
    def _write_tokens(cur, seq: int, versions: list[Record]) -> None:
        """Versions written with a clientToken, kept for the replay window (store/tokens.py) so
        every replica answers a retry as the first answer was, even once overwritten."""
        now = time.time()
        cur.execute("DELETE FROM proxyinit_tokens WHERE at < %s", (now - WINDOW_SECONDS,))
        if versions:
            cur.executemany(_TOKEN, [(*_row(r), seq, now) for r in versions])

    def abort(self) -> None:
        """End the write begun, if any, with nothing written (the lock is released)."""
        if not self._held:
            return
        self._held = False
        if not self._db.broken and not self._db.closed:
            try:
                self._db.execute("ROLLBACK")
            except Exception:  # the connection died: the server rolled it back already
                pass

    # ------------------------------------------------------------------ notifications
    def wait(self, timeout: float) -> bool:
        """Block until another process committed a write (its NOTIFY) or `timeout` passed."""
        import psycopg

        if self._db.closed:
            return False  # closed by the plane's stop: nothing left to follow
        try:
            if self._listen is None or self._listen.broken:
                self._listen = self._connect()
                self._listen.execute(f"LISTEN {CHANNEL}")
                return True  # notifications may have been missed while it was down
            return self._notified(timeout)
        except (psycopg.Error, ConfigError):
            if self._db.closed:
                return False  # closed under us by the plane's stop
            time.sleep(min(timeout, 1.0))  # the server is unreachable: try again later
            return True

    def _notified(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for notify in self._listen.notifies(timeout=left, stop_after=1):
                if notify.pid != self._pid:  # our own writes are in memory already
                    return True
        return False

    def close(self) -> None:
        for conn in (self._db, self._listen):
            if conn is not None and not conn.closed:
                conn.close()


def _key(key: Key) -> tuple[str, str, str, str]:
    return (key.kind, key.mesh, key.router, key.name)


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def safe_url(url: str) -> str:
    """The URL as messages may show it: the password replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "postgresql://..."
