"""backends/pdeath.py: the death signal is really set in the child (read back from the kernel)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from proxyinit.firewall.backends.pdeath import PR_SET_PDEATHSIG, SIGKILL, _prctl, before_exec
from proxyinit.firewall.backends.spawn import start

PR_GET_PDEATHSIG = 2
ROOT = Path(__file__).resolve().parents[2]


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
    """before_exec (spawn.start's, as restore and nftables use it): set in the child, so the
    exec'd tool dies with us."""
    proc = start([sys.executable, "-S", "-c", REPORT], before_exec())
    stdout, stderr = proc.communicate()
    assert (proc.returncode, stdout.strip()) == (0, str(SIGKILL)), stderr


def test_before_exec_loads_no_ctypes_in_the_parent():
    """libc's prctl is resolved in the forked child: the parent (a fresh interpreter here)
    never imports _ctypes, and its tool still gets the death signal."""
    code = (
        "import sys\n"
        "from proxyinit.firewall.backends import pdeath, spawn\n"
        f"proc = spawn.start([sys.executable, '-S', '-c', {REPORT!r}], pdeath.before_exec())\n"
        "out, err = proc.communicate()\n"
        "print(out.strip(), err.strip(), sorted(m for m in sys.modules if 'ctypes' in m))\n"
    )
    argv = [sys.executable, "-S", "-c", code]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)
    assert proc.stdout.split() == [str(SIGKILL), "[]"], proc.stderr
