"""Enter another network namespace (`--netns NAME|PATH`) for the rest of this process.

setns(2) through ctypes: Python 3.11 has no os.setns, and pyroute2 costs ~100 ms to import,
which an init container should not pay. Child processes (iptables-restore) inherit the
namespace; python-iptables handles must be created after entering (they bind at creation).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

from proxyinit.errors import ConfigError, RuntimeFailure

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"


def resolve(spec: str) -> str:
    """A name made by `ip netns add` (under /run/netns) or a path (/proc/PID/ns/net, a bind mount)."""
    if not spec.strip():
        raise ConfigError(
            "--netns '': empty namespace name (omit --netns to use the current namespace)"
        )
    path = spec if "/" in spec else os.path.join(NETNS_RUN_DIR, spec)
    if not os.path.exists(path):
        raise ConfigError(f"--netns {spec!r}: no such network namespace ({path} does not exist)")
    return path


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise RuntimeFailure(f"setns failed: {os.strerror(errno)} (needs CAP_SYS_ADMIN)")


def enter(spec: str) -> None:
    """Move this (single-threaded) process into the namespace for good."""
    path = resolve(spec)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def entered(spec: str | None) -> Iterator[None]:
    """Run a block inside the namespace and come back (for in-process callers such as tests)."""
    if spec is None:
        yield
        return
    home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        enter(spec)
        yield
    finally:
        _setns(home)
        os.close(home)
