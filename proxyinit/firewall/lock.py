"""One proxyinit writer at a time: observe -> plan -> commit must not interleave.

Two applies racing on a fresh namespace would both observe "no jump" and both append one. The
lock is ours (PROXYINIT_LOCKFILE, default /run/proxyinit.lock), not the xtables lock, which
iptables-restore --wait takes itself inside our critical section.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from proxyinit.errors import RuntimeFailure

WAIT_SECONDS = 10.0


def proxyinit_lock_path() -> str:
    return os.environ.get("PROXYINIT_LOCKFILE", "/run/proxyinit.lock")


def xtables_lock_path() -> str:
    """The lock iptables itself uses; libiptc (python-iptables) does not take it, so we do."""
    return os.environ.get("XTABLES_LOCKFILE", "/run/xtables.lock")


@contextmanager
def exclusive(path: str, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """flock(path), polling until `wait` runs out (then RuntimeFailure naming the file)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeFailure(
                        f"another writer holds {path} for more than {wait:.0f}s"
                    ) from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)
