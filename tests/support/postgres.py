"""One real PostgreSQL server per test session, in a temporary directory; a fresh database per test.

Debian's `postgresql` package (scripts/system-packages.sh) provides initdb and postgres under
/usr/lib/postgresql/<version>/bin; its own cluster service is never used. PostgreSQL refuses to
run as root, so as root the server runs as the package's `postgres` user, in a temporary
directory handed to it. It listens on 127.0.0.1 on a free port (and a unix socket in that
directory), trusts local connections (test data only), and dies with the test session: stopped
in `finally`, and killed by the kernel if pytest itself is killed (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from proxyinit.firewall.backends.pdeath import preexec_for_child
from tests.support.loopback import free_port

SERVER_USER = "postgres"


def postgres_bin(name: str) -> str | None:
    """The newest installed PostgreSQL's `name` binary, or None if PostgreSQL is not installed."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version)
    return found[-1] if found else None


def _version(path: str) -> int:
    part = path.split("/")[4]
    return int(part) if part.isdigit() else 0


@dataclass
class PostgresServer:
    port: int
    socket_dir: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_postgres(fsync: bool = False) -> Iterator[PostgresServer]:
    """initdb + postgres in a temporary directory; everything stopped and removed on exit.
    Tests run without fsync (they kill replicas, never the database); benchmarks with it."""
    initdb, postgres = postgres_bin("initdb"), postgres_bin("postgres")
    if initdb is None or postgres is None:
        raise RuntimeError(
            "PostgreSQL is not installed: run `make install` (scripts/system-packages.sh)"
        )
    as_root = os.getuid() == 0
    user = pwd.getpwnam(SERVER_USER) if as_root else None
    top = tempfile.mkdtemp(prefix="proxyinit-pg-")
    process = None
    try:
        if user is not None:
            os.chown(top, user.pw_uid, user.pw_gid)
        data, run = os.path.join(top, "data"), top
        who = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
        subprocess.run(
            [initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=60,
            cwd=top,
            **who,
        )
        port = free_port()
        with open(os.path.join(top, "postgres.log"), "wb") as log:
            process = subprocess.Popen(
                [postgres, "-D", data, "-k", run, "-h", "127.0.0.1", "-p", str(port)]
                + ["-c", "max_connections=200"]
                + ([] if fsync else ["-F"]),
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=top,
                preexec_fn=preexec_for_child(),
                **who,
            )
        server = PostgresServer(port, run)
        _wait_ready(server, process, top)
        yield server
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(top, ignore_errors=True)


def _wait_ready(server: PostgresServer, process: subprocess.Popen, top: str) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(top, "postgres.log"), errors="replace") as log:
                    raise RuntimeError(f"postgres did not start:\n{log.read()[-2000:]}") from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(2)  # SIGINT: PostgreSQL's fast shutdown (ends every session now)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
