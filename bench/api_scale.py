#!/usr/bin/env python3
"""Benchmark API writes as the mesh grows, and the event loop's answers during a write burst.

The real server (`proxyinit xds serve --db FILE --api`, a subprocess; fsync'd SQLite) and plain
HTTP clients (unsigned: the server checks signatures only with --api-keys). The mesh grows by
create-virtual-node (each node: one http listener, DNS discovery, 5 backends) and
create-virtual-service (provided by that node), so every backend resolves.

1. create-virtual-node p50/p99 and writes/s over the last --sample creates before each size;
   the ratio column is against the first size (the small-mesh baseline of the same run).
2. At the first and last size: --burst update-virtual-node writes from 8 client threads while
   one thread GETs describe-virtual-node and another the debug endpoint (each every 20 ms):
   their p99 during it.
3. --idle idle TCP connections to the API (not sending anything), then one ADS stream opened:
   time to its first response, and what a GET to the API and the debug endpoint answer.

    .venv/bin/python -m bench.api_scale [--sizes 10,100,1000] [--sample 30] [--burst 200] [--idle 20000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.xds_push import pct

ROOT = Path(__file__).resolve().parents[1]
MESH = "scale"
PREFIX = f"/v20190125/meshes/{MESH}"


def start_server(
    workdir: Path, db: str, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, dict]:
    command = [
        sys.executable, "-m", "proxyinit", "xds", "serve", "--db", str(workdir / db),
        "--api", "127.0.0.1:0", "--xds", "127.0.0.1:0", "--debug", "127.0.0.1:0",
        "--log-level", "warning", *extra,
    ]  # fmt: skip
    # The server's log stays out of the report (a refused accept() is logged per connection).
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
    )
    line = process.stdout.readline()
    if not line.startswith("ready"):
        process.kill()
        raise SystemExit(f"server did not start: {line!r}")
    words = line.split()
    return process, dict(zip(words[1::2], map(int, words[2::2]), strict=True))


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()


def call(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, float]:
    """One request on a fresh connection (as the aws CLI makes them): (status, seconds)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        payload = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=payload, headers={"content-type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def node_spec(i: int, size: int, shift: int = 1) -> dict:
    backends = [f"svc-{(i + k * shift) % size}.local" for k in range(1, 6)]
    return {
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": f"n{i}.{MESH}.local"}},
        "backends": [{"virtualService": {"virtualServiceName": name}} for name in backends],
    }


def write(port: int, method: str, path: str, body: dict) -> float:
    status, seconds = call(port, method, path, body)
    if status != 200:
        raise SystemExit(f"{method} {path} answered {status}")
    return seconds


def grow(port: int, start: int, end: int, size: int) -> list[float]:
    """Create nodes start..end-1 and their services; the create-virtual-node durations."""
    out = []
    for i in range(start, end):
        body = {"virtualNodeName": f"n{i}", "spec": node_spec(i, size)}
        out.append(write(port, "PUT", f"{PREFIX}/virtualNodes", body))
        provider = {"provider": {"virtualNode": {"virtualNodeName": f"n{i}"}}}
        body = {"virtualServiceName": f"svc-{i}.local", "spec": provider}
        write(port, "PUT", f"{PREFIX}/virtualServices", body)
    return out


def reader(port: int, path: str, stop: threading.Event) -> list[float]:
    """GET `path` until stopped, 20 ms apart (a poller, not a load generator of its own)."""
    out = []
    while not stop.wait(0.02):
        status, seconds = call(port, "GET", path)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}")
        out.append(seconds)
    return out


def burst(ports: dict, nodes: int, writes: int) -> dict:
    """`writes` update-virtual-node from 8 threads; GET latencies of the API and debug meanwhile."""
    stop = threading.Event()
    with ThreadPoolExecutor(10) as pool:
        gets = pool.submit(reader, ports["api"], f"{PREFIX}/virtualNodes/n0", stop)
        debug = pool.submit(reader, ports["debug"], "/", stop)
        started = time.perf_counter()
        updates = [
            pool.submit(
                write,
                ports["api"],
                "PUT",
                f"{PREFIX}/virtualNodes/n{i % nodes}",
                {"spec": node_spec(i % nodes, nodes, shift=2 + i % 3)},
            )
            for i in range(writes)
        ]
        durations = [u.result() for u in updates]
        elapsed = time.perf_counter() - started
        stop.set()
        return {
            "rate": writes / elapsed,
            "write": durations,
            "get": gets.result(),
            "debug": debug.result(),
        }


def ads_first_response(xds_port: int, node: str, timeout: float = 30) -> float:
    import grpc
    from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

    from proxyinit.xds import types

    started = time.perf_counter()
    with grpc.insecure_channel(f"127.0.0.1:{xds_port}") as channel:
        request = discovery_pb2.DiscoveryRequest(type_url=types.CLUSTER)
        request.node.id = node
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        call_ = stub.StreamAggregatedResources(iter([request]), timeout=timeout)
        next(call_)
        call_.cancel()
    return time.perf_counter() - started


def hold(port: int, count: int) -> None:
    """A holder process: open `count` idle sockets, say how many, keep them until stdin closes."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sockets = []
    for _ in range(count):
        try:
            sock = socket.socket()
        except OSError:
            break  # out of descriptors here: the count says so
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        sockets.append(sock)
    print(len(sockets), flush=True)
    sys.stdin.read()


def idle_connections(workdir: Path, count: int, per_process: int = 9000) -> dict:
    """`count` idle sockets on the API (holder processes: each has its own descriptor limit);
    then an ADS stream, a GET and a debug GET."""
    process, ports = start_server(workdir, "idle.db")
    holders = []
    try:
        write(ports["api"], "PUT", "/v20190125/meshes", {"meshName": MESH, "spec": {}})
        grow(ports["api"], 0, 1, 6)
        opened = 0
        for start in range(0, count, per_process):
            n = min(per_process, count - start)
            holder = subprocess.Popen(
                [sys.executable, "-m", "bench.api_scale", "--hold", str(ports["api"]), str(n)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            )  # fmt: skip
            holders.append(holder)
            opened += int(holder.stdout.readline() or 0)
        time.sleep(1.0)  # let the server accept what it will
        out = {"count": opened}
        try:
            out["ads_s"] = ads_first_response(ports["xds"], f"mesh/{MESH}/virtualNode/n0")
        except Exception as err:  # the figure is whether it is served at all: say why not
            out["ads_s"] = f"failed: {type(err).__name__}"
        for name, port, path in (
            ("get", ports["api"], f"{PREFIX}/virtualNodes/n0"),
            ("debug", ports["debug"], "/"),
        ):
            try:
                status, seconds = call(port, "GET", path)
                out[name] = f"{status} in {seconds * 1000:.0f} ms"
            except OSError as err:
                out[name] = f"failed: {err}"
        # Past the cap the API refuses (503) until the idle ones time out (--http-header-timeout).
        time.sleep(11)
        status, seconds = call(ports["api"], "GET", f"{PREFIX}/virtualNodes/n0")
        out["get_after"] = f"{status} in {seconds * 1000:.0f} ms"
        return out
    finally:
        for holder in holders:
            holder.stdin.close()
            holder.wait(30)
            holder.stdout.close()
        stop_server(process)


def report(rows: list[dict], bursts: dict) -> None:
    base = statistics.median(rows[0]["ms"])
    print()
    print(
        f"{'create-virtual-node at':<24}{'n':>4}{'p50 ms':>9}{'p99 ms':>9}{'writes/s':>10}{'x p50':>8}"
    )
    for row in rows:
        ms = row["ms"]
        print(
            f"{str(row['size']) + ' nodes':<24}{len(ms):>4}{statistics.median(ms):>9.1f}{pct(ms, 0.99):>9.1f}"
            f"{row['rate']:>10.0f}{statistics.median(ms) / base:>8.1f}"
        )
    print("targets at 1000 nodes: write p50 <= 20 ms, >= 100 writes/s")
    print()
    print(
        f"{'burst of updates (8 clients)':<30}{'writes/s':>9}{'write p50':>10}{'GET p99':>9}{'debug p99':>10}"
    )
    for size, b in bursts.items():
        ms = {k: [s * 1000 for s in b[k]] for k in ("write", "get", "debug")}
        print(
            f"{str(size) + ' nodes':<30}{b['rate']:>9.0f}{statistics.median(ms['write']):>10.1f}"
            f"{pct(ms['get'], 0.99):>9.1f}{pct(ms['debug'], 0.99):>10.1f}"
        )
    print("target: GET p99 during a write burst <= 50 ms")


def report_idle(idle: dict) -> None:
    ads = idle["ads_s"]
    ads = f"{ads * 1000:.0f} ms" if isinstance(ads, float) else ads
    print()
    print(
        f"{idle['count']} idle API connections: ADS first response {ads}, "
        f"API GET {idle['get']} (past the cap), {idle['get_after']} once the idle ones timed out; "
        f"debug GET {idle['debug']}"
    )


def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="proxyinit-bench-scale-"))
    rows, bursts = [], {}
    try:
        process, ports = start_server(workdir, "scale.db")
        try:
            write(ports["api"], "PUT", "/v20190125/meshes", {"meshName": MESH, "spec": {}})
            size, final = 0, max(args.sizes)
            for target in args.sizes:
                first = max(size, target - args.sample)
                grow(ports["api"], size, first, final)
                started = time.perf_counter()
                durations = grow(ports["api"], first, target, final)
                rate = len(durations) / (time.perf_counter() - started) * 2  # node + service
                rows.append({"size": target, "ms": [d * 1000 for d in durations], "rate": rate})
                print(f"  {target} nodes: done", file=sys.stderr)
                size = target
                if target in (args.sizes[0], final) and args.burst:
                    bursts[target] = burst(ports, target, args.burst)
        finally:
            stop_server(process)
        report(rows, bursts)
        if args.idle:
            report_idle(idle_connections(workdir, args.idle))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10, 100, 1000]
    )
    parser.add_argument("--sample", type=int, default=30, help="timed creates before each size")
    parser.add_argument("--burst", type=int, default=200, help="updates in each burst (0: none)")
    parser.add_argument("--idle", type=int, default=20000, help="idle API connections (0: skip)")
    return parser.parse_args()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--hold":
        hold(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main(parse_args())
