#!/usr/bin/env python3
"""Benchmark the App Mesh API write path. Loopback only, bounded in time, cleans up after itself.

The control plane (SQLite store + API + ADS, one event loop) runs in this process; clients are
real HTTP requests (`update-route`, the walkthrough's 8:2 edit with moving weights).

1. API write -> ACK: from sending `PUT .../routes/colorteller-route` until every connected
   stream ACKed the new RDS version: one real Envoy (colorgateway-vn), then N simulated ADS
   streams (bench/xds_push.py's client, in a separate process).
2. Writes/s the store sustains: sequential update-route over HTTP (validation + translation
   check + fsync'd SQLite commit + 200), and MeshStore.update in-process (no HTTP).

    .venv/bin/python -m bench.api_push [--changes 30] [--streams 100,1000] [--writes 300] [--no-envoy]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.xds_push import GATEWAY, pct, rss_mb  # the simulated-stream client lives there
from proxyinit.xds.server import Callbacks
from tests.support.loopback import loopback_translator

ROOT = Path(__file__).resolve().parents[1]

ROUTE_PATH = "/v20190125/meshes/default/virtualRouter/colorteller-vr/routes/colorteller-route"


def route_body(i: int) -> bytes:
    blue, red = 1 + i % 49, 1 + (i * 7) % 47  # a different route every write; sum <= 100
    return json.dumps(
        {
            "spec": {
                "httpRoute": {
                    "match": {"prefix": "/"},
                    "action": {
                        "weightedTargets": [
                            {"virtualNode": "colorteller-blue-vn", "weight": blue},
                            {"virtualNode": "colorteller-red-vn", "weight": red},
                        ]
                    },
                }
            }
        }
    ).encode()


def put_route(port: int, i: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "PUT", ROUTE_PATH, body=route_body(i), headers={"content-type": "application/json"}
        )
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"update-route answered {response.status}: {body[:200]!r}")
    finally:
        connection.close()


class RdsAckWaiter(Callbacks):
    """Set when `target` distinct streams ACKed the gateway's current RDS version (not `old`)."""

    def __init__(self, plane):
        from proxyinit.xds.stream import RequestKind

        self.plane, self.ack_kind = plane, RequestKind.ACK
        self.old, self.target, self.acked, self.done = "", 0, set(), asyncio.Event()
        plane.ads.add_callbacks(self)

    def expect(self, streams: int) -> None:
        from proxyinit.xds import types

        self.old = self.plane.cache.get_snapshot(GATEWAY).version(types.ROUTE)
        self.target, self.acked, self.done = streams, set(), asyncio.Event()

    def on_request(self, stream, type_url, kind) -> None:
        from proxyinit.xds import types

        if kind is not self.ack_kind or type_url != types.ROUTE:
            return
        current = self.plane.cache.get_snapshot(GATEWAY).version(types.ROUTE)
        if current != self.old and stream.types[type_url].acked_version == current:
            self.acked.add(id(stream))
            if len(self.acked) >= self.target:
                self.done.set()


async def timed_writes(
    running, waiter: RdsAckWaiter, streams: int, changes: int, offset: int
) -> list[float]:
    out = []
    for i in range(changes):
        waiter.expect(streams)
        started = time.perf_counter()
        await asyncio.to_thread(put_route, running.api.port, offset + i)
        await asyncio.wait_for(waiter.done.wait(), 30)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def start_plane(workdir: Path, name: str):
    from proxyinit.controlplane.plane import ControlPlane
    from proxyinit.mesh.model.meshfile import load_mesh_file
    from proxyinit.xds.endpoint import Endpoint

    running = ControlPlane(
        Endpoint("127.0.0.1", 0),
        db=str(workdir / f"{name}.db"),
        api=Endpoint("127.0.0.1", 0),
        translate=loopback_translator(),
    )
    await running.start()
    await running.store.apply(
        load_mesh_file(ROOT / "examples" / "colorapp" / "route-blue-red.yaml")
    )
    return running


async def bench_envoy(workdir: Path, changes: int) -> list[float]:
    from proxyinit.mesh.runtime.envoy import EnvoyProcess

    running = await start_plane(workdir, "envoy")
    try:
        waiter = RdsAckWaiter(running)
        async with EnvoyProcess() as envoy:
            await envoy.start_node(GATEWAY, f"127.0.0.1:{running.xds_port}")
            return await timed_writes(running, waiter, 1, changes, 0)
    finally:
        await running.stop()


async def bench_fanout(workdir: Path, n: int, changes: int) -> dict:
    running = await start_plane(workdir, f"fanout{n}")
    client = None
    try:
        waiter = RdsAckWaiter(running)
        client = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.xds_push",
            "--client",
            str(running.xds_port),
            str(n),
            str(n),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while len(running.registry.streams()) < n:
            if time.monotonic() > deadline:
                raise SystemExit(f"fan-out {n}: only {len(running.registry.streams())} streams")
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # let the initial responses be ACKed before timing edits
        durations = await timed_writes(running, waiter, n, changes, 1000)
        return {"n": n, "ms": durations, "rss": rss_mb()[0]}
    finally:
        if client is not None:
            client.stdin.close()
            await client.wait()
        await running.stop()


async def bench_writes(workdir: Path, writes: int) -> dict:
    from proxyinit.store.base import Key

    running = await start_plane(workdir, "writes")
    try:
        started = time.perf_counter()
        for i in range(writes):
            await asyncio.to_thread(put_route, running.api.port, i)
        http_rate = writes / (time.perf_counter() - started)
        key = Key("Route", "default", "colorteller-vr", "colorteller-route")
        started = time.perf_counter()
        for i in range(writes):
            await running.store.update(key, json.loads(route_body(writes + i))["spec"])
        store_rate = writes / (time.perf_counter() - started)
        return {"http": http_rate, "store": store_rate, "n": writes}
    finally:
        await running.stop()


def report(envoy: list[float] | None, fanouts: list[dict], writes: dict) -> None:
    print()
    print(
        f"{'API write -> all streams ACK':<32}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'RSS MB':>8}"
    )
    if envoy:
        print(
            f"{'1 real Envoy':<32}{len(envoy):>5}{statistics.median(envoy):>9.1f}{pct(envoy, 0.95):>9.1f}{max(envoy):>9.1f}"
        )
    for row in fanouts:
        ms = row["ms"]
        print(
            f"{str(row['n']) + ' simulated streams':<32}{len(ms):>5}{statistics.median(ms):>9.1f}{pct(ms, 0.95):>9.1f}"
            f"{max(ms):>9.1f}{row['rss']:>8.0f}"
        )
    print()
    print(
        f"writes/s sustained (update-route, fsync'd SQLite, {writes['n']} sequential writes, no Envoy connected)"
    )
    print(f"  over HTTP (API, 1 client)   {writes['http']:>8.0f}")
    print(f"  MeshStore.update in-process {writes['store']:>8.0f}")


async def main(args) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="proxyinit-bench-api-"))
    try:
        envoy = None if args.no_envoy else await bench_envoy(workdir, args.changes)
        fanouts = [await bench_fanout(workdir, n, args.fanout_changes) for n in args.streams]
        writes = await bench_writes(workdir, args.writes)
        report(envoy, fanouts, writes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--changes", type=int, default=30, help="writes timed against the real Envoy"
    )
    parser.add_argument(
        "--fanout-changes", type=int, default=5, help="writes timed per fan-out size"
    )
    parser.add_argument(
        "--streams", type=lambda s: [int(x) for x in s.split(",") if x], default=[100, 1000]
    )
    parser.add_argument("--writes", type=int, default=300, help="writes for the writes/s figures")
    parser.add_argument("--no-envoy", action="store_true")
    asyncio.run(asyncio.wait_for(main(parser.parse_args()), 600))
