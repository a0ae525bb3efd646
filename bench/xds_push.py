#!/usr/bin/env python3
"""Benchmark the xDS push path. Loopback only, bounded in time, cleans up after itself.

1. One real Envoy (colorgateway-vn of examples/colorapp): time from a mesh change to Envoy's
   ACK of the new routes, over --changes changes (weights move each time). Two clocks:
   - "model -> ACK": from the validated MeshModel to the RDS ACK (translate, snapshot, push,
     Envoy applies and ACKs);
   - "file -> ACK": from writing the mesh file to the RDS ACK (adds the file poll interval).
2. Fan-out: N simulated ADS streams (raw-bytes grpc.aio clients of bench/xds_clients.py in
   --processes separate processes, one TCP connection each unless --connections, ACKing
   everything) on colorgateway-vn (N replicas of the gateway share its virtual node, as tasks of
   one ECS service do). Time, on the server, from the model change to the last stream's ACK of
   the new RDS version; the server's RSS; CPU seconds of the server and of the clients over the
   changes (they share the machine's cores: which side bounded the run); TCP segments sent per
   stream and change (loopback; the whole namespace's, so other traffic adds to it).

    .venv/bin/python -m bench.xds_push [--changes 30] [--streams 100,1000,2000] [--no-envoy]
        [--processes 4]   (the clients of each fan-out spread over that many processes)
        [--profile FILE]  (cProfile of the server's loop during the fan-out changes)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from proxyinit.xds.server import Callbacks
from tests.support.loopback import loopback_translator

ROOT = Path(__file__).resolve().parents[1]

# grpc's fork handlers only print a warning when we spawn Envoy or the client process.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

EXAMPLE = ROOT / "examples" / "colorapp" / "route-blue-red.yaml"
GATEWAY = "mesh/default/virtualNode/colorgateway-vn"
ROUTE_NAMES = ["rds_egress_http_9080", "rds_ingress_http_9080"]


def mesh_text(blue: int, red: int) -> str:
    text = EXAMPLE.read_text()
    blue_target, red_target = "colorteller-blue-vn, weight: 8}", "colorteller-red-vn, weight: 2}"
    assert blue_target in text and red_target in text
    return text.replace(blue_target, f"colorteller-blue-vn, weight: {blue}}}").replace(
        red_target, f"colorteller-red-vn, weight: {red}}}"
    )


def weights(i: int) -> tuple[int, int]:
    return 1 + i % 49, 1 + (i * 7) % 47  # a different route every change; sum <= 100 (API limit)


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, MB."""
    fields = dict(
        line.split(":", 1)
        for line in Path("/proc/self/status").read_text().splitlines()
        if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_text(workdir: Path, text: str):
    from proxyinit.mesh.model.meshfile import load_mesh_file

    path = workdir / "mesh-candidate.yaml"
    path.write_text(text)
    return load_mesh_file(path)


class AckWaiter(Callbacks):
    """Counts RDS ACKs of one version without scanning every stream (O(1) per ACK)."""

    def __init__(self, plane):
        from proxyinit.xds.stream import RequestKind

        self.ack = RequestKind.ACK
        self.version, self.count, self.target, self.done = "", 0, 0, asyncio.Event()
        self.last_ack = 0.0
        plane.ads.add_callbacks(self)

    def expect(self, version: str, streams: int) -> None:
        self.version, self.count, self.target, self.done = version, 0, streams, asyncio.Event()

    def on_request(self, stream, type_url, kind) -> None:
        from proxyinit.xds import types

        if (
            kind is self.ack
            and type_url == types.ROUTE
            and stream.types[type_url].acked_version == self.version
        ):
            self.count += 1
            if self.count >= self.target:
                self.last_ack = time.perf_counter()  # not when the bench's task wakes up
                self.done.set()


# --- part 1: one real Envoy ------------------------------------------------------------------


async def bench_envoy(changes: int, workdir: Path, poll: float) -> dict:
    from proxyinit.controlplane.meshfile_source import FileMeshSource
    from proxyinit.controlplane.plane import ControlPlane
    from proxyinit.mesh.runtime.envoy import EnvoyProcess
    from proxyinit.xds import types
    from proxyinit.xds.endpoint import Endpoint

    mesh_file = workdir / "mesh.yaml"
    mesh_file.write_text(mesh_text(8, 2))
    plane = ControlPlane(
        Endpoint("127.0.0.1", 0),
        mesh_file=FileMeshSource(mesh_file, poll),
        translate=loopback_translator(),
    )
    model_to_ack, file_to_ack = [], []
    async with plane:
        waiter = AckWaiter(plane)
        async with EnvoyProcess() as envoy:
            t0 = time.perf_counter()
            await envoy.start_node(GATEWAY, f"127.0.0.1:{plane.xds_port}")
            ready_ms = (time.perf_counter() - t0) * 1000
            for i in range(changes):
                meshes = load_text(workdir, mesh_text(*weights(i)))
                started = time.perf_counter()
                plane.publisher.replace(meshes)
                waiter.expect(plane.cache.get_snapshot(GATEWAY).version(types.ROUTE), 1)
                await asyncio.wait_for(waiter.done.wait(), 5)
                model_to_ack.append((time.perf_counter() - started) * 1000)
            for i in range(changes):
                text = mesh_text(*weights(changes + i))
                waiter.expect(_route_version_of(workdir, text, plane), 1)
                await asyncio.sleep(random.uniform(0, poll))  # do not stay in phase with the poller
                started = time.perf_counter()
                mesh_file.write_text(text)
                await asyncio.wait_for(waiter.done.wait(), 5)
                file_to_ack.append((time.perf_counter() - started) * 1000)
    return {"ready_ms": ready_ms, "model": model_to_ack, "file": file_to_ack}


def _route_version_of(workdir: Path, text: str, plane) -> str:
    """The RDS version the publisher will produce for `text` (computed before the clock starts)."""
    from proxyinit.xds import types

    prepared = plane.publisher.prepare(load_text(workdir, text))
    return prepared["default"][GATEWAY].version(types.ROUTE)


# --- part 2: fan-out to simulated streams ----------------------------------------------------


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def _spawn_clients(port: int, n: int, connections: int, processes: int) -> list:
    """The simulated Envoys, spread over `processes` client processes (one GIL each)."""
    clients = []
    for streams, conns in zip(_split(n, processes), _split(connections, processes), strict=True):
        args = ["-m", "bench.xds_clients", str(port), str(streams), str(max(1, conns))]
        clients.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                cwd=ROOT,
            )
        )
    return clients


async def _stop_clients(clients: list) -> None:
    for client in clients:
        client.stdin.close()
    for client in clients:
        try:
            await asyncio.wait_for(client.wait(), 30)
        except TimeoutError:
            client.kill()
            await client.wait()


def tcp_segments() -> int:
    """TCP segments sent in this network namespace so far (loopback: each is also received)."""
    head, values = (
        line.split()
        for line in Path("/proc/net/snmp").read_text().splitlines()
        if line.startswith("Tcp:")
    )
    return int(dict(zip(head, values, strict=True))["OutSegs"])


class CpuClock:
    """CPU seconds of this (server) process and of the client processes since construction:
    which side bounds the fan-out on a shared 2-core machine."""

    def __init__(self, clients: list):
        self.pids = [client.pid for client in clients]
        self.start = self._now()

    def _now(self) -> tuple[float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        clients = 0
        for pid in self.pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            clients += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        return usage.ru_utime + usage.ru_stime, clients / os.sysconf("SC_CLK_TCK")

    def elapsed(self) -> tuple[float, float]:
        now = self._now()
        return now[0] - self.start[0], now[1] - self.start[1]


@contextlib.contextmanager
def profiled(path: str | None):
    """cProfile of the server's loop thread while the changes are pushed, written to `path`."""
    if not path:
        yield
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(path)
        print(f"  server profile written to {path}", file=sys.stderr)


async def _connected(waiter: AckWaiter, timeout: float, stalled: float = 30) -> bool:
    """Wait for every stream's first ACK; give up after `timeout` s, or once no new stream
    ACKed for `stalled` s (the few streams that never connect need not cost minutes)."""
    deadline, seen, last_progress = time.perf_counter() + timeout, -1, time.perf_counter()
    while not waiter.done.is_set():
        now = time.perf_counter()
        if waiter.count != seen:
            seen, last_progress = waiter.count, now
        if now >= deadline or now - last_progress >= stalled:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.done.wait(), 1)
    return True


async def bench_fanout(
    n: int,
    changes: int,
    workdir: Path,
    connections: int,
    processes: int = 1,
    profile: str | None = None,
) -> dict:
    from proxyinit.controlplane.meshfile_source import FileMeshSource
    from proxyinit.controlplane.plane import ControlPlane
    from proxyinit.xds import types
    from proxyinit.xds.endpoint import Endpoint

    mesh_file = workdir / f"fanout{n}.yaml"
    mesh_file.write_text(mesh_text(8, 2))
    # The file never changes: the benchmark publishes models directly.
    plane = ControlPlane(Endpoint("127.0.0.1", 0), mesh_file=FileMeshSource(mesh_file, 3600))
    async with plane:
        waiter = AckWaiter(plane)
        waiter.expect(plane.cache.get_snapshot(GATEWAY).version(types.ROUTE), n)
        clients = await _spawn_clients(plane.xds_port, n, connections, processes)
        try:
            connect_started = time.perf_counter()
            connect_timeout = max(60, n // 40)  # thousands of first connects on 2 cores
            if not await _connected(waiter, connect_timeout):
                # Measured over the streams that did connect, and said so in the report.
                print(
                    f"  fan-out {n}: only {waiter.count} streams ACKed (none more for 30 s, or "
                    f"{connect_timeout} s passed; "
                    f"{len(plane.registry.streams())} open): timing those",
                    file=sys.stderr,
                )
            connect_s = time.perf_counter() - connect_started
            connected = waiter.count
            durations, cpu, segments = [], CpuClock(clients), tcp_segments()
            with profiled(profile):
                for i in range(changes):
                    meshes = load_text(workdir, mesh_text(*weights(i)))
                    started = time.perf_counter()
                    plane.publisher.replace(meshes)
                    waiter.expect(plane.cache.get_snapshot(GATEWAY).version(types.ROUTE), connected)
                    await asyncio.wait_for(waiter.done.wait(), 30)
                    durations.append((waiter.last_ack - started) * 1000)
            server_cpu, client_cpu = cpu.elapsed()
            segments = (tcp_segments() - segments) / max(1, changes * connected)
            current, peak = rss_mb()
        finally:
            await _stop_clients(clients)
    return {
        "n": n,
        "connected": connected,
        "connect_s": connect_s,
        "ms": durations,
        "rss": current,
        "peak": peak,
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
        "segments": segments,
    }


# --- report -----------------------------------------------------------------------------------


def print_report(envoy: dict | None, fanouts: list[dict], poll: float) -> None:
    print()
    if envoy is not None:
        print(f"1 real Envoy 1.40 (colorgateway-vn), /ready after {envoy['ready_ms']:.0f} ms")
        print(
            f"{'change -> RDS ACK':<34}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}   target p50 <= 20 ms"
        )
        for label, key in (
            ("model -> ACK", "model"),
            (f"file write -> ACK (poll {poll * 1000:.0f} ms)", "file"),
        ):
            values = envoy[key]
            print(
                f"{label:<34}{len(values):>4}{statistics.median(values):>9.1f}{pct(values, 0.95):>9.1f}{max(values):>9.1f}"
            )
        print()
    if fanouts:
        print(
            f"{'simulated streams':<18}{'connect s':>10}{'changes':>8}{'p50 ms':>9}{'max ms':>9}{'RSS MB':>8}{'peak MB':>9}{'CPU s srv/cli':>15}{'segs':>6}"
            "   targets: 2000 all ACKed <= 1000 ms, RSS <= 300 MB; 10000 <= 2000 ms, RSS <= 1 GB"
        )
        for row in fanouts:
            print(
                f"{_streams(row):<18}{row['connect_s']:>10.2f}{len(row['ms']):>8}{statistics.median(row['ms']):>9.1f}"
                f"{max(row['ms']):>9.1f}{row['rss']:>8.0f}{row['peak']:>9.0f}"
                f"{row['server_cpu']:>8.1f}/{row['client_cpu']:<6.1f}{row['segments']:>6.1f}"
            )


def _streams(row: dict) -> str:
    return str(row["n"]) if row["connected"] >= row["n"] else f"{row['connected']}/{row['n']}"


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="proxyinit-bench-"))
    try:
        envoy = None if args.no_envoy else await bench_envoy(args.changes, workdir, args.poll)
        fanouts = []
        for n in args.streams:
            connections = args.connections or n
            processes = max(1, min(args.processes, n))
            fanouts.append(
                await bench_fanout(
                    n, args.fanout_changes, workdir, connections, processes, args.profile
                )
            )
            print(f"  fan-out {n}: done", file=sys.stderr)
        print_report(envoy, fanouts, args.poll)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=30, help="changes pushed to the real Envoy")
    parser.add_argument("--fanout-changes", type=int, default=5, help="changes per fan-out size")
    parser.add_argument(
        "--streams", type=lambda s: [int(x) for x in s.split(",")], default=[100, 1000, 2000]
    )
    parser.add_argument(
        "--connections", type=int, default=0, help="TCP connections for the streams (0: one each)"
    )
    parser.add_argument(
        "--poll", type=float, default=0.01, help="mesh file poll interval for the file -> ACK clock"
    )
    parser.add_argument("--no-envoy", action="store_true", help="skip the real-Envoy part")
    parser.add_argument(
        "--processes", type=int, default=1, help="client processes the streams are spread over"
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile the server during the fan-out changes"
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(parse_args()), 600))
