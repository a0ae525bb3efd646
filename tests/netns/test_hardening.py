"""Hardening items 2-4, each reproduced in a real namespace before it was fixed.

2: a read-only /run (read-only root filesystem) gave an OSError traceback from lock.py;
3: --netns at a FIFO hung forever while holding the lock;
4: a namespace deleted mid-run was reported as applied (exit 0) although the rules went into
   the orphan, which vanishes with the last process in it.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import subprocess
import sys
import time

import pytest

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.backends import make_backend
from proxyinit.firewall.converge import commit, converge, plan_apply
from proxyinit.firewall.netns import entered
from proxyinit.lab.netns import netns_exec, sh
from proxyinit.settings import load_settings
from tests.cases import env
from tests.netns.conftest import BACKENDS, proxyinit, save, variant_of
from tests.netns.test_backends import wait_for_holder_of

TIMEOUT = 15  # every run here is bounded: a hang is a failure, not a stuck suite


def run_ro_run(ns: str, backend: str, *args: str) -> subprocess.CompletedProcess:
    """proxyinit inside `ns` with an empty read-only tmpfs over /run, in a private mount
    namespace of its own (the machine's /run is never touched)."""
    script = 'mount -t tmpfs -o ro tmpfs /run && exec "$@"'
    argv = netns_exec(ns, "unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh")
    argv += [sys.executable, "-m", "proxyinit", "--backend", backend, *args]
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("APPMESH_", "PROXYINIT_"))
    }
    child_env.update(env())
    return subprocess.run(
        argv, env=child_env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def test_read_only_run_works_with_nft(netns):
    result = run_ro_run(netns, "nft", "apply")
    assert result.returncode == 0, result.stderr
    assert "proxyinit/egress-redirect" in save(netns, "nft")
    again = run_ro_run(netns, "nft", "apply")
    assert again.returncode == 0 and "in sync" in again.stderr, again.stderr


@pytest.mark.parametrize("backend", ["legacy", "iptc"])
def test_read_only_run_is_one_clean_line_at_worst(netns, backend):
    """Legacy iptables needs its xtables lock file; without a writable /run the most we may do
    is say so in one line (exit 1), never a traceback."""
    result = run_ro_run(netns, backend, "apply")
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode != 0:
        assert result.returncode == 1
        assert result.stderr.startswith("proxyinit: error:"), result.stderr
        assert "APPMESH" not in save(netns, "legacy")


@pytest.mark.parametrize("kind", ["fifo", "regular", "directory", "mount-namespace"])
def test_netns_that_is_not_a_network_namespace(netns, tmp_path, kind):
    path = {
        "fifo": tmp_path / "fifo",
        "regular": tmp_path / "file",
        "directory": tmp_path,
        "mount-namespace": "/proc/self/ns/mnt",
    }[kind]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "regular":
        path.write_text("not a namespace\n")
    result = subprocess_run_proxyinit(str(path), "apply")
    assert result.returncode == 2, result.stderr
    assert str(path) in result.stderr and "not a network namespace" in result.stderr
    assert "CAP_SYS_ADMIN" not in result.stderr
    # Nothing was left holding the lock: the next apply goes through at once.
    assert proxyinit(netns, "apply", env=env()).returncode == 0


def subprocess_run_proxyinit(ns_path: str, *args: str) -> subprocess.CompletedProcess:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("APPMESH_")}
    child_env.update(env())
    argv = [sys.executable, "-m", "proxyinit", "--netns", ns_path, *args]
    return subprocess.run(
        argv, env=child_env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


@pytest.mark.parametrize("backend", ["legacy", "iptc"])
def test_namespace_deleted_mid_run_is_a_failure(netns, tmp_path, backend):
    """The run is held at the xtables lock (after planning, before committing), the namespace
    is deleted, then the lock is released: the commit lands in the orphan, so exit 1."""
    lock_path = tmp_path / "xtables.lock"
    holder = os.open(lock_path, os.O_CREAT | os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("APPMESH_")}
    child_env.update(env(), XTABLES_LOCKFILE=str(lock_path))
    argv = [sys.executable, "-m", "proxyinit", "--netns", netns, "--backend", backend, "apply"]
    proc = subprocess.Popen(argv, env=child_env, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_holder_of(lock_path, exclude=os.getpid()) is not None
        sh("ip", "netns", "del", netns)
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
        try:
            _, stderr = proc.communicate(timeout=TIMEOUT)
        finally:
            proc.kill()
    assert proc.returncode == 1, stderr
    assert netns in stderr and "deleted" in stderr


def _start(ns: str, lockfile: str, backend: str, **extra: str) -> subprocess.Popen:
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("APPMESH_", "PROXYINIT_"))
    }
    child_env.update(env(ENABLE_IPV6="1"), PROXYINIT_LOCKFILE=lockfile, **extra)
    argv = [sys.executable, "-m", "proxyinit", "--netns", ns, "--backend", backend, "apply"]
    return subprocess.Popen(argv, env=child_env, stderr=subprocess.PIPE, text=True)


ROUNDS, WRITERS = 4, 10


def _race(ns: str, tmp_path, backends: tuple[str, str]) -> None:
    """WRITERS applies at once, alternating two lock files and two backends; then exactly one
    set of rules, in one variant."""
    procs = [_start(ns, str(tmp_path / f"lock{i % 2}"), backends[i % 2]) for i in range(WRITERS)]
    codes = []
    for proc in procs:
        try:
            proc.communicate(timeout=TIMEOUT * 2)
        finally:
            proc.kill()
        codes.append(proc.returncode)
    assert 0 in codes and set(codes) <= {0, 1}, codes  # 1: refused to mix variants
    variants = [v for v in ("legacy", "nft") if "APPMESH" in save(ns, v) + save(ns, v, True)]
    assert len(variants) == 1, variants
    for v6 in (False, True):
        text = save(ns, variants[0], v6)
        assert text.count("proxyinit/egress-jump") == 1, text
        assert text.count("proxyinit/ingress-jump") == 1, text
        assert text.count("proxyinit/egress-redirect") == 1, text


def _flush_all(ns: str) -> None:
    for variant in ("legacy", "nft"):
        for tool in ("iptables", "ip6tables"):
            sh(*netns_exec(ns, f"{tool}-{variant}", "-t", "nat", "-F"))
            sh(*netns_exec(ns, f"{tool}-{variant}", "-t", "nat", "-X"))


@pytest.mark.parametrize("backends", [("nft", "nft"), ("legacy", "iptc"), ("legacy", "nft")])
def test_writers_with_separate_lock_files_leave_one_set_of_rules(netns, tmp_path, backends):
    """A host agent and an init container, each with its own PROXYINIT_LOCKFILE (and perhaps
    another image's iptables): never duplicate rules, never rules in both variants."""
    for _ in range(ROUNDS):
        _flush_all(netns)  # every round starts from nothing, so every writer races
        _race(netns, tmp_path, backends)


def holders_of(path, exclude: set[int]) -> set[int]:
    """Pids (other than `exclude`) with `path` open: the ones that reached that lock."""
    found = set()
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in exclude):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if str(path) in links:
            found.add(pid)
    return found


def wait_for_holders(path, count: int, exclude: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = holders_of(path, exclude)
        if len(found) >= count:
            return found
        time.sleep(0.02)
    return holders_of(path, exclude)


@pytest.mark.parametrize("backends", [("legacy", "legacy"), ("iptc", "legacy"), ("iptc", "iptc")])
def test_two_writers_planned_on_the_same_state_do_not_duplicate(netns, tmp_path, backends):
    """Deterministic form of the race: both writers (separate lock files) have observed an
    empty namespace and wait at the xtables lock to commit; then the lock is released."""
    lock_path = tmp_path / "xtables.lock"
    holder = os.open(lock_path, os.O_CREAT | os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    procs = []
    try:
        for i, backend in enumerate(backends):
            proc = _start(
                netns, str(tmp_path / f"lock{i}"), backend, XTABLES_LOCKFILE=str(lock_path)
            )
            procs.append(proc)
            # The second writer may never reach the xtables lock (it waits for the first): a
            # short bounded wait then, not a failure.
            wait_for_holders(lock_path, i + 1, {os.getpid()}, timeout=20 if i == 0 else 2)
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
        for proc in procs:
            try:
                proc.communicate(timeout=TIMEOUT * 2)
            finally:
                proc.kill()
    assert [proc.returncode for proc in procs] == [0, 0]
    for v6 in (False, True):
        text = save(netns, "legacy", v6)
        assert text.count("proxyinit/egress-jump") == 1, text
        assert text.count("proxyinit/egress-redirect") == 1, text


def _delete_egress_jump(ns: str, variant: str) -> None:
    text = save(ns, variant)
    line = next(x for x in text.splitlines() if "proxyinit/egress-jump" in x)
    sh(*netns_exec(ns, f"iptables-{variant}", "-t", "nat", "-D", *shlex.split(line)[1:]))


@pytest.mark.parametrize("start", ["empty", "jump-deleted"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_plan_made_on_stale_state_is_refused_not_duplicated(netns, backend, start):
    """Without any lock of ours: a writer whose observation went stale (another writer
    committed in between) must have its transaction refused by the kernel, not stack a second
    set of jumps; re-planning then finds the namespace in sync."""
    settings = load_settings(env())
    if start == "jump-deleted":
        assert proxyinit(netns, "apply", env=env(), backend=backend).returncode == 0
        _delete_egress_jump(netns, variant_of(backend))
    with entered(netns):
        stale = plan_apply(settings, make_backend(backend))
        other = make_backend(backend)
        commit(plan_apply(settings, other), other)
        with pytest.raises(RuntimeFailure):
            commit(stale, make_backend(backend))
        # What apply does: a refused commit is re-planned on a fresh observation.
        mine, plans = make_backend(backend), iter([stale])
        assert converge(lambda: next(plans, None) or plan_apply(settings, mine), mine).empty
    text = save(netns, variant_of(backend))
    assert text.count("proxyinit/egress-jump") == 1, text
    assert text.count("proxyinit/ingress-jump") == 1, text


def test_iptc_refuses_counts_that_would_hold_the_xtables_lock_for_long(netns):
    """Item 7: with 100k ignored IPs iptc held the host-wide xtables lock ~52 s. Past its limit
    it refuses up front (exit 2, nothing changed) and names the backends that cope."""
    ips = ",".join(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(1, 10_002))
    config = env(EGRESS_IGNORED_IP=ips)
    refused = proxyinit(netns, "apply", env=config, backend="iptc")
    assert refused.returncode == 2, refused.stderr[-500:]
    assert "--backend legacy" in refused.stderr and len(refused.stderr) < 1000
    assert "APPMESH" not in save(netns, "legacy") + save(netns, "legacy", True)
    assert proxyinit(netns, "apply", env=config, backend="legacy").returncode == 0


HOLD_LOCK = (
    "import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(b'\\0proxyinit/nat-writer'); "
    "print('held', flush=True); sys.stdin.read()"
)


def test_the_namespace_lock_queues_writers_and_a_deleted_namespace_fails(netns):
    """Another writer holds the namespace's lock: apply waits (changing nothing); the namespace
    is deleted meanwhile; once the lock is free, apply sees it is gone and exits 1."""
    holder = subprocess.Popen(
        netns_exec(netns, sys.executable, "-c", HOLD_LOCK),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    proc = None
    try:
        assert holder.stdout.readline().strip() == "held"
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("APPMESH_")}
        child_env.update(env())
        argv = [sys.executable, "-m", "proxyinit", "--netns", netns, "apply"]
        proc = subprocess.Popen(argv, env=child_env, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)  # long enough for an apply that does not wait to have finished
        assert proc.poll() is None, proc.communicate()
        assert "APPMESH" not in save(netns, "nft") + save(netns, "legacy")
        sh("ip", "netns", "del", netns)
    finally:
        holder.kill()
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()
    try:
        _, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 1 and "deleted" in stderr, stderr
