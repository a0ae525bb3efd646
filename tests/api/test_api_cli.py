"""`proxyinit xds serve --db PATH --api HOST:PORT`: the real command, the real aws CLI, SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.api.conftest import Server
from tests.support.loopback import free_port
from tests.support.serve import proxyinit_command, run, serve_command

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "colorapp"


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port}")


def test_xds_serve_with_db_and_api(tmp_path):
    api, xds = free_port(), free_port()
    flags = ("--api", f"127.0.0.1:{api}", "--xds", f"127.0.0.1:{xds}", "--log-level", "warning")
    command = serve_command(*flags, db=tmp_path / "mesh.db")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(api, process)
        client = Server(tmp_path / "mesh.db", api_port=api)  # only for its aws() helper
        apply = ("mesh", "apply", "-f", EXAMPLES / "mesh.yaml", "--endpoint-url", client.url)
        applied = run(proxyinit_command(*apply), timeout=60)
        assert applied.returncode == 0, applied.stderr
        nodes = client.aws("list-virtual-nodes", "--mesh-name", "default").json["virtualNodes"]
        assert len(nodes) == 4
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0, process.stderr.read()
        process.stdout.close()
        process.stderr.close()


def test_mesh_file_and_db_are_exclusive(tmp_path):
    done = run(serve_command(mesh_file=EXAMPLES / "mesh.yaml", db=tmp_path / "m.db"))
    assert done.returncode == 2 and "mesh apply" in done.stderr


def test_a_bad_region_is_a_configuration_error(tmp_path):
    done = run(serve_command("--region", "us west 2", db=tmp_path / "m.db"))
    assert done.returncode == 2, done.stderr
    assert "--region 'us west 2': expected an AWS region" in done.stderr
    assert not (tmp_path / "m.db").exists()  # refused before the store was opened
