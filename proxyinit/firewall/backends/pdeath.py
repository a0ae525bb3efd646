"""Committers die with proxyinit: a `kill -9` of the parent must not be followed by a commit.

Each family's commit runs in a child (an iptc fork, or ip6tables-/iptables-restore). Without
this, a child waiting for the xtables lock when proxyinit was killed went on and committed its
family alone. PR_SET_PDEATHSIG(SIGKILL) makes the kernel kill it with its parent; it survives
exec (the iptables binaries are neither setuid nor file-capable). What remains: two families
are two kernel transactions, so a kill between them leaves one family new and the other old;
the next run converges it (README, "kill -9").
"""

from __future__ import annotations

import posix  # os's functions without os's import (~0.9 ms): see proxyinit/environ.py

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
    if posix.getppid() != parent:
        posix._exit(1)


def preexec_for_child():
    """A subprocess preexec_fn doing die_with_parent, with libc resolved before the fork. Not
    in the child, though that would keep _ctypes out of proxyinit: loaded after the fork it
    costs ~1 ms (copy-on-write faults; ~0.4 ms here) on the way to the tool's exec, which is
    the slower side of a commit; the default set measured 0.5-1.5 ms slower that way."""
    prctl, parent = _prctl(), posix.getpid()
    return lambda: die_with_parent(parent, prctl)
