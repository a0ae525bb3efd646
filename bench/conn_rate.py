#!/usr/bin/env python3
"""What a new connection pays in the kernel on the egress path: connection setups per second
through the redirect with N ignored IPs, iptables chain (one rule per address, walked for
every new connection) vs the nftables backend (one set lookup).

Each row: a fresh namespace with a veth pair (198.18.0.1/24), `proxyinit apply` with
N ignored IPs (from 198.19.0.0/16, never the destination, so every rule is walked), then one
process in the namespace: a listener on the egress port (Envoy's stand-in: accept, close) and
a client as uid 65534 connecting to 198.18.0.2:80 (redirected) as fast as it can for a fixed
time, closing with a reset (no TIME_WAIT); the median of --repeat runs. Run as root:
python -m bench.conn_rate [--seconds 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from proxyinit.contract import init_container_env
from proxyinit.lab.netns import lab, netns_exec, sh

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("legacy", "nftables")

# Runs inside the namespace: listener thread + a setuid client loop; prints connections/s.
LOOP = r"""
import os, socket, struct, sys, threading, time
seconds = float(sys.argv[1])
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", 15001)); server.listen(4096)
def serve():
    while True:
        conn, _ = server.accept(); conn.close()
threading.Thread(target=serve, daemon=True).start()
read, write = os.pipe()
if os.fork() == 0:
    os.setgid(65534); os.setuid(65534)
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.connect(("198.18.0.2", 80)); s.close(); count += 1
    os.write(write, str(count).encode()); os._exit(0)
os.close(write)
print(round(int(os.read(read, 64)) / seconds))
"""


def env_for(size: int, backend: str) -> dict[str, str]:
    ips = ",".join(f"198.19.{i // 256}.{i % 256}" for i in range(size))
    return {
        **os.environ,
        **init_container_env(app_ports="9080", ignored_ips=ips),
        "PROXYINIT_BACKEND": backend,
        "PYTHONPATH": str(ROOT),
    }


def rate(size: int, backend: str, seconds: float) -> int:
    with lab() as current:
        ns = current.add_namespace("pi-crate")
        # A veth pair inside the namespace: only a route to 198.18.0.0/24 is needed.
        sh("ip", "-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
        sh("ip", "-n", ns, "addr", "add", "198.18.0.1/24", "dev", "d0")
        for dev in ("d0", "d1"):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        applied = subprocess.run(
            netns_exec(ns, sys.executable, "-m", "proxyinit"),
            env=env_for(size, backend),
            capture_output=True,
            text=True,
        )
        if applied.returncode != 0:
            raise SystemExit(f"apply failed: {applied.stderr.strip()}")
        out = sh(*netns_exec(ns, sys.executable, "-c", LOOP, str(seconds)))
        return int(out.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--sizes", default="10,1000")
    parser.add_argument("--repeat", type=int, default=3, help="median of this many runs")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/conn_rate.py needs root (it creates network namespaces)")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(
        f"{'backend':<12}"
        + "".join(f"{f'N={n} conn/s':>16}" for n in sizes)
        + f"{'last/first':>12}"
    )
    for backend in BACKENDS:
        rates = [
            round(statistics.median(rate(size, backend, args.seconds) for _ in range(args.repeat)))
            for size in sizes
        ]
        cells = "".join(f"{r:>16}" for r in rates)
        print(f"{backend:<12}{cells}{rates[-1] / rates[0]:>12.2f}")
    print("connection setups per second through the egress redirect, same run (higher is better).")


if __name__ == "__main__":
    main()
