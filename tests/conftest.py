"""Fixtures every test directory may use: one real PostgreSQL per session (tests/support/postgres.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def postgres_server():
    """Started on first use only, so a session without PostgreSQL tests never starts it."""
    from tests.support.postgres import running_postgres

    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server):
    """The URL of a new, empty database on the session's server, dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)
