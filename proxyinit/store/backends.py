"""`--db`: a postgresql:// URL (a store replicas share) or the path of a SQLite file."""

from __future__ import annotations


def is_shared(db: str) -> bool:
    """Several processes may write it (PostgreSQL): they follow each other's writes."""
    return db.startswith(("postgresql://", "postgres://"))


def open_backend(db: str):
    """The Store `--db` names; ConfigError (naming --db) if it cannot be opened."""
    if is_shared(db):
        from proxyinit.store.postgres import PostgresStore

        return PostgresStore(db)
    from proxyinit.store.sqlite import SqliteStore

    return SqliteStore(db)
