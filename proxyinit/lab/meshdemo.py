"""`proxyinit demo`: the App Mesh colorapp walkthrough, live, on one machine.

1. namespaces + control plane + four tasks (init container -> Envoy -> app, as ECS runs them);
2. requests from a client namespace through the virtual gateway's Envoy (ingress) to the gateway:
   all white (route: colorteller-vn weight 1);
3. the route update of the walkthrough (blue 8 / red 2) is written to the mesh file: the control
   plane pushes it to the gateway's Envoy, nothing restarts;
4. requests until the first blue/red answer, then `count` more: the split must converge to 8:2.
Exit 0 only if all of it worked. Everything is removed at the end, also on Ctrl-C or failure.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field

from proxyinit.lab.colorlab import ColorLab, examples_dir
from proxyinit.lab.netns import Lab

CONFIGURED = {"blue": 0.8, "red": 0.2}
WHITE_REQUESTS = 100


@dataclass
class DemoResult:
    started_to_first_response: float = 0.0
    update_to_first_shift: float = 0.0
    white_phase: Counter = field(default_factory=Counter)
    split_phase: Counter = field(default_factory=Counter)
    requests_sent: int = 0
    envoy_requests: int = 0
    problems: list[str] = field(default_factory=list)

    def share(self, color: str) -> float:
        total = sum(v for k, v in self.split_phase.items() if not k.startswith("ERR"))
        return self.split_phase[color] / total if total else 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Phase:
    counts: Counter = field(default_factory=Counter)
    first: float = 0.0  # monotonic time of the first answer
    first_other: float = 0.0  # ... of the first answer other than `until_not` (errors aside)


def stream(colorlab: ColorLab, view, title: str, count: int, until_not: str | None = None) -> Phase:
    """Run one load from the client namespace, feeding the view. With `until_not`, `count` is
    only a cap: the load stops at the first other answer."""
    phase = Phase()
    view.phase(title, 0 if until_not else count)
    proc = colorlab.load(count, concurrency=4, until_not=until_not)
    for line in proc.stdout:
        stamp, _, outcome = line.strip().partition(" ")
        phase.counts[outcome] += 1
        phase.first = phase.first or float(stamp)
        if (
            until_not
            and outcome != until_not
            and not outcome.startswith("ERR")
            and not phase.first_other
        ):
            phase.first_other = float(stamp)
        view.progress(phase.counts, sum(phase.counts.values()), count)
    proc.wait()
    view.done(phase.counts)
    return phase


def check(result: DemoResult, tolerance: float) -> None:
    if set(result.white_phase) != {"white"}:
        result.problems.append(
            f"before the update, expected only white, got {dict(result.white_phase)}"
        )
    errors = {
        k: v for k, v in result.split_phase.items() if k.startswith("ERR") or k not in CONFIGURED
    }
    if errors:
        result.problems.append(f"after the update, unexpected answers: {errors}")
    for color, want in CONFIGURED.items():
        if abs(result.share(color) - want) * 100 > tolerance:
            result.problems.append(
                f"{color}: {result.share(color):.1%} observed, {want:.0%} configured (±{tolerance:g} points)"
            )
    if result.envoy_requests < result.requests_sent:
        result.problems.append(
            f"gateway Envoy routed {result.envoy_requests} requests, fewer than the {result.requests_sent} sent"
        )


def run_phases(colorlab: ColorLab, view, count: int, started: float) -> DemoResult:
    result = DemoResult()
    white = stream(colorlab, view, "route: all to colorteller-vn (white)", WHITE_REQUESTS)
    result.white_phase, result.started_to_first_response = (
        white.counts,
        white.first - started if white.first else 0.0,
    )
    view.note(
        "update: colorteller-route -> blue 8 / red 2 (written to the mesh file; nothing restarts)"
    )
    updated = colorlab.update_mesh(examples_dir() / "route-blue-red.yaml")
    shifting = stream(
        colorlab, view, "waiting for the first blue/red answer", 5000, until_not="white"
    )
    if shifting.first_other:
        result.update_to_first_shift = shifting.first_other - updated
    else:
        result.problems.append("no blue/red answer after the route update (5000 requests)")
    colorlab.inside("gateway", "http://127.0.0.1:9080/color/clear")
    result.split_phase = stream(colorlab, view, "route: blue 8 / red 2", count).counts
    result.requests_sent = (
        sum(result.white_phase.values())
        + sum(shifting.counts.values())
        + sum(result.split_phase.values())
    )
    # The HTTP connection managers' counters survive route updates (clusters' do not): every
    # request came through the virtual gateway's Envoy, then in through the gateway Envoy's
    # ingress and out through its egress.
    result.envoy_requests = min(
        colorlab.envoy_counter("ingress", "http.ingress.downstream_rq_total"),
        colorlab.envoy_counter("gateway", "http.ingress_http_9080.downstream_rq_total"),
        colorlab.envoy_counter("gateway", "http.egress_http_9080.downstream_rq_total"),
    )
    return result


def run_mesh_demo(view, count: int = 1000, tolerance: float = 4.0) -> DemoResult:
    started = time.monotonic()
    colorlab = ColorLab(Lab())
    try:
        view.note(
            "starting: namespaces, control plane, 4 tasks (init container -> Envoy -> app) "
            "and the virtual gateway's Envoy"
        )
        colorlab.build_network()
        colorlab.start_control_plane()
        colorlab.start_tasks()
        view.note(
            f"ready in {time.monotonic() - started:.1f}s: "
            + ", ".join(f"{k}={v}" for k, v in colorlab.namespaces.items())
        )
        result = run_phases(colorlab, view, count, started)
        check(result, tolerance)
        return result
    finally:
        colorlab.close()
        view.note("cleaned up: namespaces, processes and files removed")


def main(count: int = 1000, tolerance: float = 4.0) -> int:
    from proxyinit.lab.view import make_view

    if os.geteuid() != 0:
        print("proxyinit demo needs root (it creates network namespaces)")
        return 1
    view = make_view()
    try:
        result = run_mesh_demo(view, count, tolerance)
    except KeyboardInterrupt:
        view.note("interrupted; everything was cleaned up")
        return 130
    except RuntimeError as err:
        view.note(f"FAILED: {err}")
        return 1
    view.summary(result, CONFIGURED)
    return 0 if result.ok else 1
