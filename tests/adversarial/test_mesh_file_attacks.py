"""The adversarial pass against the control plane's mesh file, kept: an alias bomb, deep nesting,
a huge integer, an oversized file, a FIFO and /dev/zero in its place, and a slow load. The real
`xds serve` process must keep answering and keep serving the last good mesh; `mesh apply` must
exit 2. Bounded in time (timeouts everywhere); processes and files are removed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from proxyinit.controlplane import meshfile_source
from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.controlplane.plane import ControlPlane
from proxyinit.mesh.model.meshfile import load_mesh_file
from proxyinit.xds.endpoint import Endpoint
from tests.adversarial.test_api_attacks import MIB, rss_mib
from tests.support.loopback import free_port
from tests.support.serve import proxyinit_command, run, serve_command

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "colorapp"


def alias_bomb(levels: int = 12) -> str:
    lines = ["- meshName: default", "  virtualNodeName: bomb", "  spec:", "    x0: &a0 [lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"    x{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def debug_json(port: int, timeout: float = 5) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as response:
        return json.load(response)


def test_hostile_mesh_files_leave_the_control_plane_serving(tmp_path):
    """An alias bomb, deep nesting, a huge file, a FIFO and /dev/zero in place of the mesh file:
    each refused, the debug endpoint answers throughout and the last good mesh keeps serving."""
    mesh_file = tmp_path / "mesh.yaml"
    shutil.copy(EXAMPLES / "mesh.yaml", mesh_file)
    debug = free_port()
    flags = ("--xds", f"127.0.0.1:{free_port()}", "--debug", f"127.0.0.1:{debug}")
    process = subprocess.Popen(
        serve_command(*flags, "--log-level", "error", mesh_file=mesh_file),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        good = wait_for(lambda: debug_json(debug))
        hostile = [
            lambda: mesh_file.write_text(alias_bomb()),
            lambda: mesh_file.write_text("[" * 200 + "]" * 200),
            lambda: mesh_file.write_text("- {meshName: default, x: " + "9" * 5000 + "}\n"),
            lambda: os.truncate(mesh_file, 9 * MIB),
            lambda: (mesh_file.unlink(), os.mkfifo(mesh_file)),
            lambda: (mesh_file.unlink(), mesh_file.symlink_to("/dev/zero")),
        ]
        for index, write in enumerate(hostile):
            write()
            time.sleep(0.3)  # a few polls of the watcher
            assert debug_json(debug) == good, index
            assert rss_mib(process.pid) < 400, index
            mesh_file.unlink()
            shutil.copy(EXAMPLES / "mesh.yaml", mesh_file)
            time.sleep(0.3)  # seen again, so the next refusal is a change the watcher logs
        assert process.poll() is None
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert stderr.count("the last good mesh keeps serving") >= len(hostile), stderr[-2000:]


def wait_for(probe, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return probe()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_mesh_apply_refuses_a_bomb_with_exit_2(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    done = run(proxyinit_command("mesh", "apply", "-f", bomb, "--db", tmp_path / "x.db"))
    assert done.returncode == 2, done.stderr
    assert "aliases" in done.stderr and "Traceback" not in done.stderr


async def test_a_slow_mesh_load_does_not_stop_the_debug_endpoint(tmp_path, monkeypatch):
    """A load is bounded, but a large valid file still takes seconds to validate: it runs off
    the event loop, so the debug endpoint (and the ADS streams) keep being served meanwhile."""
    mesh_file = tmp_path / "mesh.yaml"
    shutil.copy(EXAMPLES / "mesh.yaml", mesh_file)
    loading, release = threading.Event(), threading.Event()
    answered: list = []

    loads: list = []

    def slow_loader(path, data=None):
        loads.append(path)
        if len(loads) > 1:  # not the initial load: an edit
            loading.set()
            release.wait(30)
        return load_mesh_file(path, data)

    monkeypatch.setattr(meshfile_source, "load_mesh_file", slow_loader)
    plane = ControlPlane(
        Endpoint("127.0.0.1", 0),
        mesh_file=FileMeshSource(mesh_file, 0.01),
        debug=Endpoint("127.0.0.1", 0),
    )

    def probe() -> None:  # a client on its own thread: it needs nothing from the test's loop
        try:
            loading.wait(20)
            answered.append(debug_json(plane.debug_server.port, timeout=5))
        except OSError as err:
            answered.append(err)
        finally:
            release.set()

    async with plane:
        prober = threading.Thread(target=probe)
        prober.start()
        shutil.copy(EXAMPLES / "route-blue-red.yaml", mesh_file)
        await asyncio.to_thread(prober.join, 40)
    assert loading.is_set() and len(answered) == 1
    assert isinstance(answered[0], dict), answered[0]  # not a timeout
