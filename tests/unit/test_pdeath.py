"""backends/pdeath.py: the death signal is really set in the child (read back from the kernel)."""

from __future__ import annotations

import os
import sys

from proxyinit.firewall.backends.pdeath import (
    PR_SET_PDEATHSIG,
    SIGKILL,
    _prctl,
    preexec_for_child,
)
from proxyinit.firewall.backends.spawn import start

PR_GET_PDEATHSIG = 2


def test_prctl_sets_the_death_signal_in_a_child():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: set it, read it back through ctypes, report
        try:
            import ctypes

            _prctl()(PR_SET_PDEATHSIG, SIGKILL)
            value = ctypes.c_int(-1)
            ctypes.CDLL(None).prctl(PR_GET_PDEATHSIG, ctypes.byref(value))
            os.write(write, str(value.value).encode())
        finally:
            os._exit(0)
    os.close(write)
    with open(read, "rb") as reported:
        got = reported.read()
    os.waitpid(pid, 0)
    assert got == str(SIGKILL).encode()


# A program reporting its own death signal: PR_SET_PDEATHSIG survives the exec.
REPORT = (
    "import ctypes; v = ctypes.c_int(-1); ctypes.CDLL(None).prctl(2, ctypes.byref(v)); "
    "print(v.value)"
)


def test_a_started_tool_has_the_death_signal():
    """As restore and nftables start their tools (spawn.start, pdeath's before-exec hook):
    the signal survives the exec, so the tool itself dies with us."""
    proc = start([sys.executable, "-S", "-c", REPORT], preexec_for_child())
    stdout, stderr = proc.communicate()
    assert (proc.returncode, stdout.strip()) == (0, str(SIGKILL)), stderr
