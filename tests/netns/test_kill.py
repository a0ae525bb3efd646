"""Hardening item 5: `kill -9` of proxyinit must not be followed by a commit it did not see.

Reproduced deterministically: the run is held at the xtables lock with the IPv6 commit under
way (its iptc child, or ip6tables-restore, is waiting for the lock), proxyinit is killed, the
lock released. Before the fix the orphan committed IPv6 and IPv4 stayed old. Two families are
two kernel transactions, so a kill between them can still leave IPv6 new and IPv4 old; the next
run converges (checked too).
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.cases import env
from tests.netns.conftest import proxyinit, save
from tests.netns.test_backends import wait_for_holder_of


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("backend", ["iptc", "legacy"])
def test_children_die_with_a_killed_proxyinit(netns, tmp_path, backend):
    lock_path = tmp_path / "xtables.lock"
    holder = os.open(lock_path, os.O_CREAT | os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("APPMESH_")}
    child_env.update(env(ENABLE_IPV6="1"), XTABLES_LOCKFILE=str(lock_path))
    argv = [sys.executable, "-m", "proxyinit", "--netns", netns, "--backend", backend, "apply"]
    proc = subprocess.Popen(argv, env=child_env, stderr=subprocess.DEVNULL)
    orphan = None
    try:
        orphan = wait_for_holder_of(lock_path, exclude=os.getpid())  # the IPv6 committer
        assert orphan is not None and orphan != proc.pid
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
        proc.kill()
    assert wait_gone(orphan), "the IPv6 committer outlived proxyinit"
    assert "APPMESH" not in save(netns, "legacy", v6=True)
    assert "APPMESH" not in save(netns, "legacy")
    # The next run converges both families.
    assert proxyinit(netns, "apply", env=env(ENABLE_IPV6="1"), backend=backend).returncode == 0
    assert proxyinit(netns, "status", env=env(ENABLE_IPV6="1"), backend=backend).returncode == 0
