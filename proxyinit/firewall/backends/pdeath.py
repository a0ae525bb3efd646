"""Committers die with proxyinit: a `kill -9` of the parent must not be followed by a commit.

Each family's commit runs in a child (an iptc fork, or ip6tables-/iptables-restore). Without
this, a child waiting for the xtables lock when proxyinit was killed went on and committed its
family alone. PR_SET_PDEATHSIG(SIGKILL) makes the kernel kill it with its parent; it survives
exec (the iptables binaries are neither setuid nor file-capable). What remains: two families
are two kernel transactions, so a kill between them leaves one family new and the other old;
the next run converges it (README, "kill -9").
"""

from __future__ import annotations

import os
import sys

PR_SET_PDEATHSIG = 1
SIGKILL = 9


def _prctl():
    """libc's prctl, loaded only on the commit path, never for a run that is in sync. Through
    _ctypes, ctypes' C core: importing ctypes costs ~2 ms of CPU on every fresh start for this
    one call (integer arguments, as prctl takes them); ctypes itself if that core changes."""
    try:
        import _ctypes

        address = _ctypes.dlsym(_ctypes.dlopen(None), "prctl")
        call = _ctypes.call_function
    except (ImportError, AttributeError, OSError):
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    return lambda *args: call(address, args)


def die_with_parent(parent: int, prctl=None) -> None:
    """In a forked child: be killed when `parent` exits, and exit now if it already has (it
    may have died between fork and this call, before the kernel knew to tell us)."""
    (prctl or _prctl())(PR_SET_PDEATHSIG, SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def before_exec():
    """spawn.start's before_exec doing die_with_parent, libc resolved in the child after the
    fork: proxyinit itself never loads _ctypes (~0.5-1 ms of every start), and the child's
    load overlaps our own work (rendering what it will read). The forked child is
    single-threaded and execs next. If _ctypes is loaded already, it is resolved here."""
    parent = os.getpid()
    prctl = _prctl() if "_ctypes" in sys.modules else None
    return lambda: die_with_parent(parent, prctl)


def preexec_for_child():
    """A subprocess preexec_fn doing die_with_parent, with libc resolved before the fork (a
    preexec_fn must not import: the parent may have threads, one of them importing)."""
    prctl, parent = _prctl(), os.getpid()
    return lambda: die_with_parent(parent, prctl)
