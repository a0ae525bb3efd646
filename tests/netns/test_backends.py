"""Backend guarantees: a failed commit changes nothing; iptc honours the xtables lock."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

import pytest

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.backends import make_backend
from proxyinit.firewall.model import Family, FamilyPlan, Op, OpKind
from proxyinit.firewall.netns import entered
from tests.cases import env
from tests.netns.conftest import BACKENDS, add_foreign_rules, save, variant_of

GOOD = '-p tcp -m comment --comment "proxyinit/egress-redirect" -j REDIRECT --to-ports 15001'
# Parses fine in userspace; the kernel refuses it at commit (owner only works in OUTPUT and
# POSTROUTING), so this proves the transaction, not our parser.
KERNEL_REFUSES = '-m owner --uid-owner 1000 -m comment --comment "proxyinit/test" -j RETURN'


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", [Family.IPV4, Family.IPV6])
def test_failed_commit_changes_nothing(netns, backend, family):
    add_foreign_rules(netns, variant_of(backend))
    before = save(netns, variant_of(backend), family is Family.IPV6)
    ops = (
        Op(OpKind.DECLARE, "APPMESH_EGRESS"),
        Op(OpKind.APPEND, "APPMESH_EGRESS", GOOD),
        Op(OpKind.APPEND, "PREROUTING", KERNEL_REFUSES),
    )
    with entered(netns), pytest.raises(RuntimeFailure):
        make_backend(backend).commit((FamilyPlan(family, ops),))
    assert save(netns, variant_of(backend), family is Family.IPV6) == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refused_family_stops_the_families_after_it(netns, backend):
    """Families commit one after the other; the first refusal leaves the later ones untouched."""
    before = save(netns, variant_of(backend))
    refused = FamilyPlan(Family.IPV6, (Op(OpKind.APPEND, "PREROUTING", KERNEL_REFUSES),))
    fine = FamilyPlan(
        Family.IPV4,
        (Op(OpKind.DECLARE, "APPMESH_EGRESS"), Op(OpKind.APPEND, "APPMESH_EGRESS", GOOD)),
    )
    with entered(netns), pytest.raises(RuntimeFailure):
        make_backend(backend).commit((refused, fine))
    assert save(netns, variant_of(backend)) == before


def wait_for_holder_of(path, exclude: int, timeout: float = 20.0) -> int | None:
    """The pid of another process that has `path` open (it reached the lock), or None."""
    deadline = time.monotonic() + timeout
    target = str(path)
    while time.monotonic() < deadline:
        for pid in (int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != exclude):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
                if any(os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in fds):
                    return pid
            except OSError:
                continue
        time.sleep(0.02)
    return None


def test_iptc_waits_for_the_xtables_lock(netns, tmp_path):
    lock_path = tmp_path / "xtables.lock"
    holder = os.open(lock_path, os.O_CREAT | os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("APPMESH_")}
    child_env.update(env(), XTABLES_LOCKFILE=str(lock_path))
    argv = [sys.executable, "-m", "proxyinit", "--netns", netns, "--backend", "iptc", "apply"]
    proc = subprocess.Popen(
        argv, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        waiter = wait_for_holder_of(lock_path, exclude=os.getpid())  # the committing child, queued
        assert waiter is not None and proc.poll() is None, proc.communicate()
        time.sleep(0.1)  # give it the chance to (wrongly) commit anyway
        assert "APPMESH" not in save(netns, "legacy")
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "proxyinit/egress-redirect" in save(netns, "legacy")
