"""Enter another network namespace (`--netns NAME|PATH`) for the rest of this process.

setns(2) through ctypes: Python 3.11 has no os.setns, and pyroute2 costs ~100 ms to import,
which an init container should not pay. Child processes (iptables-restore) inherit the
namespace; python-iptables handles must be created after entering (they bind at creation).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import stat
from collections.abc import Iterator
from typing import NamedTuple

from proxyinit.errors import ConfigError, RuntimeFailure

CLONE_NEWNET = 0x40000000
NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3) from linux/nsfs.h: which kind of namespace a fd is
NETNS_RUN_DIR = "/run/netns"


class Target(NamedTuple):
    """The namespace we entered: its path and the nsfs inode the path named at that moment."""

    spec: str
    path: str
    dev: int
    ino: int


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


def _open_namespace(spec: str, path: str) -> int:
    """A fd on a network namespace file, or ConfigError. The type is checked before opening:
    open() on a FIFO blocks until a writer comes (it hung for ever, holding the lock)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise ConfigError(f"--netns {spec!r}: {path}: {err.strerror}") from None
    if not stat.S_ISREG(mode):  # nsfs files (and bind mounts of them) are regular files
        raise ConfigError(f"--netns {spec!r}: {path} is not a network namespace (not a file)")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        kind = None  # ENOTTY: an ordinary file, not nsfs
    if kind != CLONE_NEWNET:
        os.close(fd)
        what = "a namespace of another kind" if kind is not None else "not a namespace file"
        raise ConfigError(f"--netns {spec!r}: {path} is not a network namespace ({what})")
    return fd


def enter(spec: str) -> Target:
    """Move this (single-threaded) process into the namespace for good."""
    path = resolve(spec)
    fd = _open_namespace(spec, path)
    try:
        info = os.fstat(fd)
        _setns(fd)
    finally:
        os.close(fd)
    return Target(spec, path, info.st_dev, info.st_ino)


def check_still_there(target: Target) -> None:
    """RuntimeFailure if the path no longer names the namespace we are in (`ip netns del`, the
    task's process exited): what we committed went into an orphan that dies with us."""
    try:
        info = os.stat(target.path)
        same = (info.st_dev, info.st_ino) == (target.dev, target.ino)
    except OSError:
        same = False
    if not same:
        raise RuntimeFailure(
            f"--netns {target.spec!r}: the namespace was deleted or replaced during the run "
            f"({target.path} no longer names it); nothing we did there is visible to anyone"
        )


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
