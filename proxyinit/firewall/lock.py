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
import posix  # os's functions without os's import (~0.9 ms): see proxyinit/environ.py
import time

from proxyinit.environ import get as getenv
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
    return getenv("PROXYINIT_LOCKFILE") or None


def xtables_lock_path() -> str:
    """The lock iptables itself uses; libiptc (python-iptables) does not take it, so we do."""
    return getenv("XTABLES_LOCKFILE", "/run/xtables.lock")


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


class _Held:
    """A lock held from __enter__ to __exit__ (a class, not contextlib's decorator: contextlib
    is ~0.5 ms of the init container's imports, for these three). Never swallows errors."""

    def __enter__(self) -> None:
        self.release = self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()

    def acquire(self):
        """Take the lock; return the callable that releases it."""
        raise NotImplementedError


class namespace_writer(_Held):  # lower case: was a function, callers keep the name
    """Hold this network namespace's writer lock (enter after entering the namespace)."""

    def __init__(self, wait: float = WAIT_SECONDS) -> None:
        self.wait = wait

    def acquire(self):
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)

        def bind() -> None:
            try:
                sock.bind(NAMESPACE_LOCK)
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    raise BlockingIOError from None
                raise RuntimeFailure(
                    f"namespace lock @proxyinit/nat-writer: {err.strerror}"
                ) from None

        try:
            _poll(bind, "this namespace's lock (@proxyinit/nat-writer)", self.wait)
        except BaseException:
            sock.close()
            raise
        return sock.close


class exclusive(_Held):  # lower case: was a function, callers keep the name
    """flock(path), polling until `wait` runs out (then RuntimeFailure naming the file)."""

    def __init__(self, path: str, wait: float = WAIT_SECONDS) -> None:
        self.path, self.wait = path, wait

    def acquire(self):
        try:
            fd = posix.open(self.path, posix.O_CREAT | posix.O_RDWR | posix.O_CLOEXEC, 0o600)
        except OSError as err:  # a read-only /run: one line naming the file, never a traceback
            raise RuntimeFailure(
                f"lock file {self.path}: {err.strerror} ({LOCKFILE_HINT})"
            ) from None
        try:
            _poll(lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB), self.path, self.wait)
        except BaseException:
            posix.close(fd)
            raise
        return lambda: posix.close(fd)


class writer(_Held):  # lower case: was a function, callers keep the name
    """Everything a writer of our nat rules holds, in order (released in reverse)."""

    def acquire(self):
        held = namespace_writer()
        held.__enter__()
        extra = proxyinit_lock_path()
        if not extra:
            return held.release
        try:
            inner = exclusive(extra)
            inner.__enter__()
        except BaseException:
            held.release()
            raise

        def release() -> None:
            try:
                inner.release()
            finally:
                held.release()

        return release
