"""`proxyinit xds serve --db PATH --api HOST:PORT`: the real command, the real aws CLI, SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.api.conftest import Server
from tests.support.loopback import free_port

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
    command = [
        sys.executable,
        "-m",
        "proxyinit",
        "xds",
        "serve",
        "--db",
        str(tmp_path / "mesh.db"),
        "--api",
        f"127.0.0.1:{api}",
        "--xds",
        f"127.0.0.1:{xds}",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(api, process)
        client = Server(tmp_path / "mesh.db", api_port=api)  # only for its aws() helper
        applied = subprocess.run(
            [
                sys.executable,
                "-m",
                "proxyinit",
                "mesh",
                "apply",
                "-f",
                str(EXAMPLES / "mesh.yaml"),
                "--endpoint-url",
                client.url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert applied.returncode == 0, applied.stderr
        nodes = client.aws("list-virtual-nodes", "--mesh-name", "default").json["virtualNodes"]
        assert len(nodes) == 4
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0, process.stderr.read()
        process.stdout.close()
        process.stderr.close()


def test_mesh_file_and_db_are_exclusive(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "proxyinit",
            "xds",
            "serve",
            "--db",
            str(tmp_path / "m.db"),
            "--mesh-file",
            str(EXAMPLES / "mesh.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "mesh apply" in done.stderr


def test_a_bad_region_is_a_configuration_error(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "proxyinit",
            "xds",
            "serve",
            "--db",
            str(tmp_path / "m.db"),
            "--region",
            "us west 2",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert "--region 'us west 2': expected an AWS region" in done.stderr
    assert not (tmp_path / "m.db").exists()  # refused before the store was opened
