"""Create and remove uniquely named network namespaces and veth links with `ip`."""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

_counter = itertools.count()
NETNS_ETC = "/etc/netns"


def sh(*argv: str, check: bool = True, stdin: str | None = None) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def unique_name(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_counter)}"


def first_line(proc: subprocess.Popen, timeout: float = 60.0) -> str:
    """The child's first stdout line, or "" if it says nothing within `timeout` (no hang)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else ""


def netns_exec(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


@dataclass
class Lab:
    """Namespaces and processes to remove, in reverse order of creation."""

    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    stderr_files: dict[int, object] = field(default_factory=dict)  # pid -> anonymous file

    def add_namespace(self, prefix: str) -> str:
        name = unique_name(prefix)
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def link(self, left: str, left_addrs: list[str], right: str, right_addrs: list[str]) -> None:
        """A veth pair between two namespaces; `nodad` so IPv6 addresses are usable at once."""
        a, b = unique_name("va")[-15:], unique_name("vb")[-15:]
        sh("ip", "link", "add", a, "netns", left, "type", "veth", "peer", "name", b, "netns", right)
        for ns, dev, addrs in ((left, a, left_addrs), (right, b, right_addrs)):
            for addr in addrs:
                extra = ["nodad"] if ":" in addr else []
                sh("ip", "-n", ns, "addr", "add", addr, "dev", dev, *extra)
            sh("ip", "-n", ns, "link", "set", dev, "up")

    def bridge(self, ns: str, name: str = "br0") -> str:
        sh("ip", "-n", ns, "link", "add", name, "type", "bridge")
        sh("ip", "-n", ns, "link", "set", name, "up")
        return name

    def attach(self, hub: str, bridge: str, ns: str, addrs: list[str]) -> None:
        """A veth from `ns` (named eth0 there) into `bridge` in the hub namespace."""
        a = unique_name("vh")[-15:]
        sh(
            "ip",
            "link",
            "add",
            a,
            "netns",
            hub,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns,
        )
        sh("ip", "-n", hub, "link", "set", a, "master", bridge, "up")
        for addr in addrs:
            sh(
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                addr,
                "dev",
                "eth0",
                *(["nodad"] if ":" in addr else []),
            )
        sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def hosts_file(self, ns: str, entries: dict[str, str]) -> None:
        """/etc/netns/NS/hosts: `ip netns exec` bind-mounts it over /etc/hosts for that
        namespace's processes only (ip-netns(8)); removed with the namespace."""
        if not os.path.isdir(NETNS_ETC):
            self.directories.append(NETNS_ETC)  # ours too: removed last, once empty
        directory = os.path.join(NETNS_ETC, ns)
        os.makedirs(directory, exist_ok=True)
        self.directories.insert(0, directory)
        lines = ["127.0.0.1 localhost", "::1 localhost"] + [
            f"{addr} {name}" for name, addr in entries.items()
        ]
        with open(os.path.join(directory, "hosts"), "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def spawn(self, ns: str, *argv: str, ready_line: str | None = None) -> subprocess.Popen:
        """A process in `ns`. Its stdout is a pipe (for a ready line); its stderr goes to an
        anonymous file, so a chatty child can never block on a pipe nobody reads."""
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            netns_exec(ns, *argv), stdout=subprocess.PIPE, stderr=errors, text=True
        )
        self.processes.append(proc)
        self.stderr_files[proc.pid] = errors
        if ready_line is not None:
            line = first_line(proc)
            if line != ready_line:
                raise RuntimeError(
                    f"{' '.join(argv)} did not start: {line or self.stderr_of(proc)}"
                )
        return proc

    def stderr_of(self, proc: subprocess.Popen) -> str:
        errors = self.stderr_files[proc.pid]
        errors.seek(0)
        return errors.read().decode(errors="replace").strip()[-2000:]

    def close(self) -> None:
        """SIGTERM first (a task stops its Envoy and app), SIGKILL what is left, then remove.
        A second Ctrl-C while this runs is ignored: it would leave namespaces behind."""
        previous = (
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            if threading.current_thread() is threading.main_thread()
            else None
        )
        try:
            self._close()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _close(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        for name in reversed(self.namespaces):
            remove_namespace(name)
        for directory in self.directories:
            if directory == NETNS_ETC:
                with contextlib.suppress(OSError):  # only if nothing else lives there now
                    os.rmdir(directory)
            else:
                shutil.rmtree(directory, ignore_errors=True)
        for errors in self.stderr_files.values():
            errors.close()
        self.stderr_files.clear()
        self.processes.clear()
        self.namespaces.clear()
        self.directories.clear()


def kill_inside(name: str) -> None:
    """Anything still running in the namespace (an orphaned Envoy, say) dies with it."""
    pids = subprocess.run(
        ["ip", "netns", "pids", name], capture_output=True, text=True
    ).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)


def remove_namespace(name: str) -> None:
    kill_inside(name)
    # `ip netns del` fails with EBUSY for a moment after the last process in it exits.
    for _ in range(50):
        proc = subprocess.run(["ip", "netns", "del", name], capture_output=True, text=True)
        if proc.returncode == 0 or "No such file" in proc.stderr:
            return
        time.sleep(0.02)
    print(f"warning: could not remove namespace {name}: {proc.stderr.strip()}", file=sys.stderr)


@contextlib.contextmanager
def lab() -> Iterator[Lab]:
    current = Lab()
    try:
        yield current
    finally:
        current.close()


def probe_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "proxyinit.lab.probe", *args]
