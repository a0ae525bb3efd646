"""`proxyinit xds serve` (and the other subcommands) as real processes, for the tests that start
one: the command line, a bounded run, the `ready` line's ports, and a start on a unix socket
(umask 0: an Envoy running as uid 1337 connects to it) with the log kept for the failure message.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def proxyinit_command(*args: str | Path) -> list[str]:
    """`python -m proxyinit ARGS...` with this interpreter."""
    return [sys.executable, "-m", "proxyinit", *map(str, args)]


def serve_command(*flags: str | Path, mesh_file: str | Path | None = None, db=None) -> list[str]:
    """`proxyinit xds serve` with its source (`--mesh-file` or `--db`, if given) then `flags`."""
    source = ["--mesh-file", mesh_file] if mesh_file is not None else []
    source += ["--db", db] if db is not None else []
    return proxyinit_command("xds", "serve", *source, *flags)


def run(command: list[str], timeout: float = 30, **options) -> subprocess.CompletedProcess:
    """Run to completion (bounded), output captured as text, from the repository's root."""
    options = {"capture_output": True, "text": True, "cwd": ROOT, **options}
    return subprocess.run(command, timeout=timeout, **options)


def ready_ports(line: str) -> dict[str, int]:
    """`ready xds 1234 api 5678 ...` (what `xds serve` prints once listening) -> {name: port}."""
    words = line.split()
    assert words[:1] == ["ready"], line
    return dict(zip(words[1::2], map(int, words[2::2]), strict=True))


def start_on_socket(
    workdir: Path, processes: list, *flags: str | Path, netns: str | None = None, **source
) -> str:
    """Start `xds serve` (its `source`: mesh_file= or db=) on `workdir`/xds.sock, logging to
    `workdir`/control-plane.log, inside `netns` if given; the process goes into `processes`
    (the caller's cleanup list). Returns the `--xds` address once the socket exists."""
    from proxyinit.lab.netns import netns_exec

    socket, log_path = workdir / "xds.sock", workdir / "control-plane.log"
    argv = serve_command(*flags, "--xds", f"unix://{socket}", **source)
    if netns is not None:
        argv = netns_exec(netns, *argv)
    with open(log_path, "wb") as log:  # the child keeps its copy
        process = subprocess.Popen(argv, stdout=log, stderr=log, umask=0)
    processes.append(process)
    deadline = time.monotonic() + 20
    while not socket.exists():
        alive = process.poll() is None and time.monotonic() < deadline
        assert alive, log_path.read_text()
        time.sleep(0.02)
    return f"unix://{socket}"
