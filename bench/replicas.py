#!/usr/bin/env python3
"""Benchmark replicas over PostgreSQL. Loopback only, bounded in time, cleans up after itself.

A real PostgreSQL server in a temporary directory (tests/support/postgres.py), two replicas on
one database: B in this process (so its ADS callbacks can time the ACK), A a separate
`xds serve`-equivalent process (tests/api/serve_loopback.py), as replicas run in production.

1. API write on A -> ACK of a real Envoy on B: from sending `PUT .../routes/colorteller-route`
   to replica A until the Envoy connected to replica B ACKed the new RDS version (A commits and
   NOTIFYs, B catches up, translates, pushes).
2. Writes/s sustained over the API (sequential update-route, 1 client, no Envoy): on
   PostgreSQL (through B, with A following) and on SQLite (fsync'd), same run, same machine.

    .venv/bin/python -m bench.replicas [--changes 30] [--writes 300]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from bench.api_push import RdsAckWaiter, put_route, start_plane, timed_writes
from bench.xds_push import GATEWAY, pct
from tests.support.loopback import loopback_translator

ROOT = Path(__file__).resolve().parents[1]


async def start_replica(url: str, seed: bool):
    from proxyinit.controlplane.plane import ControlPlane
    from proxyinit.mesh.model.meshfile import load_mesh_file
    from proxyinit.xds.endpoint import Endpoint

    running = ControlPlane(
        Endpoint("127.0.0.1", 0),
        db=url,
        api=Endpoint("127.0.0.1", 0),
        translate=loopback_translator(),
    )
    await running.start()
    if seed:
        await running.store.apply(
            load_mesh_file(ROOT / "examples" / "colorapp" / "route-blue-red.yaml")
        )
    return running


async def bench_cross_replica(url: str, changes: int) -> list[float]:
    from proxyinit.mesh.runtime.envoy import EnvoyProcess
    from tests.api.conftest import Server

    b = await start_replica(url, seed=True)
    a = Server(url)
    try:
        await asyncio.to_thread(a.start)
        waiter = RdsAckWaiter(b)
        async with EnvoyProcess() as envoy:
            await envoy.start_node(GATEWAY, f"127.0.0.1:{b.xds_port}")
            # timed_writes PUTs to `.api.port`: replica A's, in its own process.
            target = SimpleNamespace(api=SimpleNamespace(port=a.api_port))
            return await timed_writes(target, waiter, 1, changes, 0)
    finally:
        await asyncio.to_thread(a.stop)
        await b.stop()


async def writes_per_second(running, writes: int, offset: int) -> float:
    started = time.perf_counter()
    for i in range(writes):
        await asyncio.to_thread(put_route, running.api.port, offset + i)
    return writes / (time.perf_counter() - started)


async def bench_writes(url: str, workdir: Path, writes: int) -> dict:
    from tests.api.conftest import Server

    b = await start_replica(url, seed=True)
    a = Server(url)  # a second replica following every write, as in production
    try:
        await asyncio.to_thread(a.start)
        postgres = await writes_per_second(b, writes, 5000)
    finally:
        await asyncio.to_thread(a.stop)
        await b.stop()
    sqlite = await start_plane(workdir, "writes")
    try:
        return {"postgres": postgres, "sqlite": await writes_per_second(sqlite, writes, 5000)}
    finally:
        await sqlite.stop()


def report(ack: list[float], writes: dict, n: int) -> None:
    print()
    print(f"{'API write on A -> ACK on B':<34}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    print(
        f"{'1 real Envoy on replica B':<34}{len(ack):>5}{statistics.median(ack):>9.1f}"
        f"{pct(ack, 0.95):>9.1f}{max(ack):>9.1f}"
    )
    print()
    print(f"writes/s sustained (update-route over the API, 1 client, {n} sequential writes)")
    print(f"  PostgreSQL (2 replicas)   {writes['postgres']:>8.0f}")
    print(f"  SQLite (fsync'd)          {writes['sqlite']:>8.0f}")


async def main(args) -> None:
    from tests.support.postgres import running_postgres

    workdir = Path(tempfile.mkdtemp(prefix="proxyinit-bench-replicas-"))
    try:
        with running_postgres(fsync=True) as server:
            ack = await bench_cross_replica(server.create_database(), args.changes)
            writes = await bench_writes(server.create_database(), workdir, args.writes)
        report(ack, writes, args.writes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=30, help="writes timed A -> Envoy on B")
    parser.add_argument("--writes", type=int, default=300, help="writes for the writes/s figures")
    asyncio.run(asyncio.wait_for(main(parser.parse_args()), 600))
