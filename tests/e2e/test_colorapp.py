"""The walkthrough end to end (root): redirector + Envoy + control plane + apps, headless."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile

import pytest

from proxyinit.lab.meshdemo import run_mesh_demo
from proxyinit.lab.view import PlainView

pytestmark = pytest.mark.root


def leftovers() -> dict[str, set[str]]:
    """What a run could leave behind: namespaces, their /etc/netns files, temp dirs, processes."""
    netns = set(
        subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    )
    etc = set(os.listdir("/etc/netns")) if os.path.isdir("/etc/netns") else {"(no /etc/netns)"}
    tmp = {
        name
        for name in os.listdir(tempfile.gettempdir())
        if name.startswith(("proxyinit-colorlab-", "proxyinit-envoy-"))
    }
    procs = {
        pid
        for pid in subprocess.run(
            ["pgrep", "-f", "proxyinit.lab.task|proxyinit.colorapp|proxyinit xds serve|envoy -c"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if _descends_from_us(pid) or _carries_our_mark(pid)
    }
    # This process's namespaces only (Lab names them <prefix>-<pid>-<n>): another test run on
    # the machine may be creating and removing its own meanwhile.
    mine = f"-{os.getpid()}-"
    return {
        "netns": {n for n in netns if n.startswith("pi-") and mine in n},
        "etc": {n for n in etc if not n.startswith("pi-") or mine in n},
        "tmp": tmp,
        "procs": procs,
    }


def _descends_from_us(pid: str) -> bool:
    """True if `pid` is a descendant of this test process (another run's Envoys are not ours)."""
    while pid not in ("0", "1"):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                pid = stat.read().rsplit(")", 1)[1].split()[1]  # field 4: the parent's pid
        except (OSError, IndexError):
            return False
        if pid == str(os.getpid()):
            return True
    return False


# Set in this process's environment before the demo: its processes inherit it, even one orphaned.
RUN_MARK = f"PROXYINIT_TEST_RUN={os.getpid()}"


def _carries_our_mark(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return RUN_MARK.encode() in environ.read().split(b"\0")
    except OSError:
        return False


@pytest.fixture(scope="module")
def demo_run():
    if os.geteuid() != 0:
        pytest.fail(
            "tests/e2e needs root (network namespaces): run `make test` as root", pytrace=False
        )
    name, value = RUN_MARK.split("=")
    os.environ[name] = value
    # The demo's temporary directories go to one of this run's own (another run on the machine
    # makes its own in /tmp meanwhile); Envoy (uid 1337) must reach in, as in /tmp.
    run_tmp = tempfile.mkdtemp(prefix="proxyinit-e2e-")
    os.chmod(run_tmp, 0o1777)
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = run_tmp
    try:
        before = leftovers()
        out = io.StringIO()
        result = run_mesh_demo(PlainView(out), count=1000, tolerance=4.0)
        after = leftovers()
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]
        shutil.rmtree(run_tmp, ignore_errors=True)
    return result, out.getvalue(), before, after


def test_all_white_before_the_update(demo_run):
    result, output, _, _ = demo_run
    assert set(result.white_phase) == {"white"}, output


def test_split_converges_to_eight_two_within_four_points(demo_run):
    result, output, _, _ = demo_run
    assert sum(result.split_phase.values()) >= 1000
    assert abs(result.share("blue") - 0.8) <= 0.04, output
    assert abs(result.share("red") - 0.2) <= 0.04, output
    assert result.ok, result.problems


def test_requests_went_through_envoy(demo_run):
    result, _, _, _ = demo_run
    assert result.envoy_requests >= result.requests_sent > 1000


def test_route_update_arrives_live(demo_run):
    result, _, _, _ = demo_run
    assert 0 < result.update_to_first_shift < 5.0


def test_nothing_left_behind(demo_run):
    _, _, before, after = demo_run
    assert after == before
