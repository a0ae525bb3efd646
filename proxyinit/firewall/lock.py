"""One proxyinit writer per network namespace: observe -> plan -> commit must not interleave.

Two applies racing on a fresh namespace would both observe "no jump" and both append one. The
lock is the namespace itself: an abstract unix socket name (`@proxyinit/nat-writer`) exists
once per network namespace, is released by the kernel when its holder exits (kill -9
included), and needs no file. So a host agent and an init container serialise whatever their
mount namespace or PROXYINIT_LOCKFILE, and a read-only /run changes nothing.

PROXYINIT_LOCKFILE, when set, is an extra flock taken inside it (for sites that serialise other
tools on a file). The xtables lock is a different thing: iptables-restore --wait takes it
itself inside our critical section; for libiptc we take it (see backends/iptc.py).
"""

from __future__ import annotations

import _socket  # not `socket`: its import (selectors, enum...) costs ~10 ms of start-up
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from proxyinit.errors import RuntimeFailure

WAIT_SECONDS = 10.0
# iptables-legacy and libiptc serialise on a lock file; nft's kernel transaction needs none.
LOCKFILE_HINT = (
    "legacy iptables and libiptc need a writable XTABLES_LOCKFILE (default /run/xtables.lock); "
    "--backend nft needs no lock file"
)
NAMESPACE_LOCK = b"\0proxyinit/nat-writer"  # abstract: scoped to the current network namespace


def proxyinit_lock_path() -> str | None:
    """The optional extra lock file (PROXYINIT_LOCKFILE); none by default."""
    return os.environ.get("PROXYINIT_LOCKFILE") or None


def xtables_lock_path() -> str:
    """The lock iptables itself uses; libiptc (python-iptables) does not take it, so we do."""
    return os.environ.get("XTABLES_LOCKFILE", "/run/xtables.lock")


def _poll(attempt, what: str, wait: float) -> None:
    """Call attempt() until it stops raising BlockingIOError, for at most `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            attempt()
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise RuntimeFailure(
                    f"another writer holds {what} for more than {wait:.0f}s"
                ) from None
            time.sleep(0.005)


@contextmanager
def namespace_writer(wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold this network namespace's writer lock (call after entering the namespace)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)

    def bind() -> None:
        try:
            sock.bind(NAMESPACE_LOCK)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise BlockingIOError from None
            raise RuntimeFailure(f"namespace lock @proxyinit/nat-writer: {err.strerror}") from None

    try:
        _poll(bind, "this namespace's lock (@proxyinit/nat-writer)", wait)
        yield
    finally:
        sock.close()


@contextmanager
def exclusive(path: str, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """flock(path), polling until `wait` runs out (then RuntimeFailure naming the file)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError as err:  # a read-only /run: one line naming the file, never a traceback
        raise RuntimeFailure(f"lock file {path}: {err.strerror} ({LOCKFILE_HINT})") from None
    try:
        _poll(lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB), path, wait)
        yield
    finally:
        os.close(fd)


@contextmanager
def writer() -> Iterator[None]:
    """Everything a writer of our nat rules holds, in order."""
    with ExitStack() as stack:
        stack.enter_context(namespace_writer())
        extra = proxyinit_lock_path()
        if extra:
            stack.enter_context(exclusive(extra))
        yield
