#!/usr/bin/env python3
"""The colorapp mesh, measured (root): demo start -> first gateway response, route update ->
first shifted response, and requests/s client -> gateway -> Envoy -> Envoy -> teller compared
with the same requests sent with no mesh at all (same apps, same namespaces layout, same run).

python -m bench.mesh [--runs 3] [--requests 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from proxyinit.lab.colorlab import ColorLab, python_module
from proxyinit.lab.meshdemo import run_mesh_demo
from proxyinit.lab.netns import Lab, netns_exec
from proxyinit.lab.view import PlainView

ROOT = Path(__file__).resolve().parent.parent


def rate(proc) -> tuple[float, int]:
    """(requests/s between the first and last answer, errors) of one load run."""
    stamps, errors = [], 0
    for line in proc.stdout:
        stamp, _, outcome = line.strip().partition(" ")
        stamps.append(float(stamp))
        errors += outcome.startswith("ERR")
    proc.wait()
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]), errors


def mesh_rate(requests: int, concurrency: int) -> tuple[float, int]:
    colorlab = ColorLab(Lab())
    try:
        colorlab.build_network()
        colorlab.start_control_plane()
        colorlab.start_tasks()
        rate(colorlab.load(200, concurrency))  # warm-up: connection pools, DNS
        return rate(colorlab.load(requests, concurrency))
    finally:
        colorlab.close()


def wait_ping(ns: str, port: int = 9080) -> None:
    code = f"import urllib.request as u;u.build_opener(u.ProxyHandler({{}})).open('http://127.0.0.1:{port}/ping',timeout=1)"
    for _ in range(200):
        if (
            subprocess.run(
                netns_exec(ns, sys.executable, "-c", code), capture_output=True
            ).returncode
            == 0
        ):
            return
        time.sleep(0.02)
    raise RuntimeError(f"app in {ns} did not start")


def load(client_ns: str, host: str, count: int, concurrency: int) -> subprocess.Popen:
    args = [host, "9080", "/color", "--count", str(count), "--concurrency", str(concurrency)]
    return subprocess.Popen(
        netns_exec(client_ns, *python_module("proxyinit.lab.load", *args)),
        stdout=subprocess.PIPE,
        text=True,
    )


def direct_rate(requests: int, concurrency: int) -> tuple[float, int]:
    """Same apps, no rules, no Envoy: client -> gateway -> teller over one bridge."""
    lab = Lab()
    try:
        hub = lab.add_namespace("pi-bhub")
        bridge = lab.bridge(hub)
        spaces = {}
        for name, addr in (
            ("gw", "198.18.2.10"),
            ("teller", "198.18.2.11"),
            ("client", "198.18.2.100"),
        ):
            spaces[name] = lab.add_namespace(f"pi-b{name}")
            lab.attach(hub, bridge, spaces[name], [f"{addr}/24"])
        lab.spawn(
            spaces["teller"],
            "env",
            "COLOR=white",
            *python_module("proxyinit.colorapp.teller", "--uid", "1000"),
        )
        lab.spawn(
            spaces["gw"],
            "env",
            "COLOR_TELLER_ENDPOINT=198.18.2.11:9080",
            *python_module("proxyinit.colorapp.gateway", "--uid", "1000"),
        )
        wait_ping(spaces["teller"])
        wait_ping(spaces["gw"])
        rate(load(spaces["client"], "198.18.2.10", 200, concurrency))
        return rate(load(spaces["client"], "198.18.2.10", requests, concurrency))
    finally:
        lab.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/mesh.py needs root (it creates network namespaces)")
    first, shift = [], []
    for _ in range(args.runs):
        result = run_mesh_demo(PlainView(io.StringIO()), count=200, tolerance=10)
        first.append(result.started_to_first_response * 1000)
        shift.append(result.update_to_first_shift * 1000)
    mesh, mesh_errors = mesh_rate(args.requests, args.concurrency)
    direct, direct_errors = direct_rate(args.requests, args.concurrency)
    print(f"{'measure':<52}{'median':>12}{'min':>10}{'max':>10}")
    print(
        f"{'demo start -> first gateway response (ms)':<52}{statistics.median(first):>12.0f}{min(first):>10.0f}{max(first):>10.0f}"
    )
    print(
        f"{'route update -> first blue/red response (ms)':<52}{statistics.median(shift):>12.0f}{min(shift):>10.0f}{max(shift):>10.0f}"
    )
    print(
        f"\n{'requests/s, ' + str(args.requests) + ' requests, concurrency ' + str(args.concurrency):<52}{'req/s':>12}{'errors':>10}"
    )
    print(f"{'through the mesh (gateway->Envoy->Envoy->teller)':<52}{mesh:>12.0f}{mesh_errors:>10}")
    print(f"{'direct (same apps, no rules, no Envoy)':<52}{direct:>12.0f}{direct_errors:>10}")
    print(
        f"mesh / direct: {mesh / direct:.2f}x  (runs: {args.runs}; each run builds and removes its namespaces)"
    )


if __name__ == "__main__":
    main()
