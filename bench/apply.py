#!/usr/bin/env python3
"""Whole-process wall time of the `proxyinit` entrypoint (no arguments, APPMESH_* and
PROXYINIT_BACKEND in the environment, as an init container runs it) applying App Mesh rule
sets, per backend, against a shell reproduction of the original route manager (one iptables
call per rule), same run.

Each measurement: a fresh namespace, then `ip netns exec NS <command>` timed from spawn to
exit (the same wrapper for both sides; its own cost is shown as `ip netns exec true`).
Run as root: python -m bench.apply [--repeat 5] [--sizes 10,100,1000]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from proxyinit.contract import init_container_env
from proxyinit.firewall.backends.select import default_variant
from proxyinit.lab.netns import lab, netns_exec

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = ROOT / "bench" / "appmesh-route-manager.sh"
BASE = {**init_container_env("9080,9081,9082"), "APPMESH_ENABLE_IPV6": "1"}


def config(size: int | None) -> dict[str, str]:
    """The default App Mesh set, or N ignored IPs (from 198.18.0.0/15) and N ignored ports."""
    if size is None:
        return dict(BASE)
    ips = [f"198.{18 + i // 65536}.{(i // 256) % 256}.{i % 256}" for i in range(size)]
    ports = [str(30000 + i) for i in range(size)]
    return {
        **BASE,
        "APPMESH_EGRESS_IGNORED_IP": ",".join(ips),
        "APPMESH_EGRESS_IGNORED_PORTS": ",".join(ports),
    }


def commands() -> dict[str, tuple[list[str], dict[str, str]]]:
    # The container entrypoint exactly as an init container runs it: the installed `proxyinit`
    # command (scripts/proxyinit) with no arguments, all env; `-m proxyinit` without a venv.
    command = Path(sys.executable).with_name("proxyinit")
    proxyinit = [str(command)] if command.exists() else [sys.executable, "-m", "proxyinit"]
    return {
        "proxyinit legacy": (proxyinit, {"PROXYINIT_BACKEND": "legacy"}),
        "proxyinit nft": (proxyinit, {"PROXYINIT_BACKEND": "nft"}),
        "proxyinit iptc": (proxyinit, {"PROXYINIT_BACKEND": "iptc"}),
        "proxyinit nftables": (proxyinit, {"PROXYINIT_BACKEND": "nftables"}),
        "proxyinit auto": (proxyinit, {"PROXYINIT_BACKEND": "auto"}),
        "per-rule legacy": (
            ["sh", str(SCRIPT)],
            {"IPTABLES": "iptables-legacy", "IP6TABLES": "ip6tables-legacy"},
        ),
        "per-rule nft": (
            ["sh", str(SCRIPT)],
            {"IPTABLES": "iptables-nft", "IP6TABLES": "ip6tables-nft"},
        ),
        "ip netns exec true": (["true"], {}),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms): CPU is user + system of the whole process tree (`ip netns exec`,
    the command, its children), which load from elsewhere inflates far less than wall time."""
    with lab() as current:
        ns = current.add_namespace("pi-bench")
        full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        cpu = _children_cpu()
        start = time.perf_counter()
        proc = subprocess.run(netns_exec(ns, *argv), env=full_env, capture_output=True, text=True)
        elapsed = (time.perf_counter() - start) * 1000
        cpu = (_children_cpu() - cpu) * 1000
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
        return elapsed, cpu


def measure(
    size: int | None, repeat: int, script_runs: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall and CPU time per command. Rounds go through every command in turn, so load
    from elsewhere on a shared machine falls on both sides of a ratio alike; at N >= 1,000 the
    per-rule scripts (seconds per run) run in the first `script_runs` rounds only."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands()}
    for round_number in range(repeat):
        for name, (argv, extra) in commands().items():
            slow = (size or 0) >= 1000 and name.startswith("per-rule")
            if slow and round_number >= script_runs:
                continue
            runs[name].append(time_once(argv, {**config(size), **extra}))
    return tuple(
        {name: statistics.median(run[i] for run in times) for name, times in runs.items()}
        for i in (0, 1)
    )


def print_table(rows: dict[str, dict[str, float]]) -> None:
    names = list(next(iter(rows.values())))
    # auto in a fresh namespace takes the image's iptables: compare it with that variant.
    auto_variant = default_variant()
    print(
        f"{'rule set':<22}"
        + "".join(f"{n:>20}" for n in names)
        + f"{'legacy x':>10}{'nft x':>8}{'nftables x':>12}{'auto x':>8}"
    )
    for label, result in rows.items():
        cells = "".join(f"{result[n]:>17.1f} ms" for n in names)
        ratio_legacy = result["per-rule legacy"] / result["proxyinit legacy"]
        ratio_nft = result["per-rule nft"] / result["proxyinit nft"]
        # Native nftables against the per-rule script on iptables-nft (what such hosts run).
        ratio_native = result["per-rule nft"] / result["proxyinit nftables"]
        ratio_auto = result[f"per-rule {auto_variant}"] / result["proxyinit auto"]
        print(
            f"{label:<22}{cells}{ratio_legacy:>9.1f}x{ratio_nft:>7.1f}x{ratio_native:>11.1f}x"
            f"{ratio_auto:>7.1f}x"
        )
    print(
        "ratios: per-rule script time / proxyinit time, same variant (nftables: against the"
        f" per-rule nft script; auto: against per-rule {auto_variant}, the image's iptables),"
        " same run (higher is better)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument(
        "--script-runs",
        type=int,
        default=3,
        help="runs of each per-rule script at N >= 1,000 (its time varies between runs)",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/apply.py needs root (it creates network namespaces)")
    # Bytecode as the image has it (Dockerfile: compileall); without it every run would
    # compile proxyinit from source, e.g. under PYTHONDONTWRITEBYTECODE=1.
    compileall.compile_dir(ROOT / "proxyinit", quiet=1)
    wall, cpu = {}, {}
    for size in [None, *(int(s) for s in args.sizes.split(",") if s)]:
        label = "default App Mesh set" if size is None else f"N={size} IPs + ports"
        wall[label], cpu[label] = measure(size, args.repeat, max(1, args.script_runs))
    print("wall time, median (spawn to exit):")
    print_table(wall)
    print("\nCPU time (user + system of the process tree), median:")
    print_table(cpu)


if __name__ == "__main__":
    main()
