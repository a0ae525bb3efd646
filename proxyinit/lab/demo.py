"""`proxyinit demo`: the redirector in two throwaway namespaces, with real TCP.

app  (198.18.0.1)  holds the rules, two Envoy stand-ins (15000 ingress, 15001 egress) and an app
peer (198.18.0.2)  a server outside the task
Each probe prints where the connection really landed. Everything is removed at the end, also
on Ctrl-C or failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from proxyinit.contract import EGRESS_PORT, INGRESS_PORT, init_container_env
from proxyinit.lab.netns import Lab, lab, netns_exec, probe_command

APP, PEER = "198.18.0.1", "198.18.0.2"
ENV = init_container_env()


@dataclass(frozen=True)
class Probe:
    title: str
    ns_role: str  # "app" or "peer": where the client runs
    host: str
    port: int
    uid: int | None
    expect: str


PROBES = (
    Probe(
        "peer -> app:9080 (inbound to the app port)",
        "peer",
        APP,
        9080,
        None,
        f"envoy-ingress {APP}:9080",
    ),
    Probe("app (uid 1000) -> peer:80 (outbound)", "app", PEER, 80, 1000, f"envoy-egress {PEER}:80"),
    Probe("Envoy (uid 1337) -> peer:80", "app", PEER, 80, 1337, f"peer {PEER}:80"),
    Probe("app (uid 1000) -> peer:22 (always ignored)", "app", PEER, 22, 1000, f"peer {PEER}:22"),
    Probe(
        "app (uid 1000) -> 127.0.0.1:9080 (local)",
        "app",
        "127.0.0.1",
        9080,
        1000,
        "app 127.0.0.1:9080",
    ),
)


def proxyinit(ns: str, *args: str) -> subprocess.CompletedProcess:
    from proxyinit.lab.task import clean_environ

    env = {**clean_environ(), **ENV}
    return subprocess.run(
        [sys.executable, "-m", "proxyinit", "--netns", ns, *args],
        env=env,
        capture_output=True,
        text=True,
    )


def build(current: Lab) -> dict[str, str]:
    app, peer = current.add_namespace("pi-demo-app"), current.add_namespace("pi-demo-peer")
    current.link(app, [f"{APP}/24"], peer, [f"{PEER}/24"])
    current.spawn(
        app, *probe_command("serve", "envoy-ingress", str(INGRESS_PORT)), ready_line="ready"
    )
    current.spawn(
        app, *probe_command("serve", "envoy-egress", str(EGRESS_PORT)), ready_line="ready"
    )
    current.spawn(app, *probe_command("serve", "app", "9080"), ready_line="ready")
    current.spawn(peer, *probe_command("serve", "peer", "80,22"), ready_line="ready")
    return {"app": app, "peer": peer}


def run_probe(probe: Probe, namespaces: dict[str, str]) -> bool:
    args = ["connect", probe.host, str(probe.port)] + (
        ["--uid", str(probe.uid)] if probe.uid is not None else []
    )
    proc = subprocess.run(
        netns_exec(namespaces[probe.ns_role], *probe_command(*args)), capture_output=True, text=True
    )
    got = proc.stdout.strip() or "no answer"
    ok = got == probe.expect
    print(f"  {'ok ' if ok else 'BAD'} {probe.title:<46} landed on: {got}")
    return ok


def step(title: str, result: subprocess.CompletedProcess) -> bool:
    print(f"\n== {title} (exit {result.returncode})")
    text = result.stdout + result.stderr
    print("\n".join("  " + line for line in text.rstrip().splitlines()))
    return result.returncode == 0


def run_demo() -> int:
    if os.geteuid() != 0:
        print("proxyinit demo needs root (it creates network namespaces)", file=sys.stderr)
        return 1
    with lab() as current:
        namespaces = build(current)
        app = namespaces["app"]
        print(f"namespaces: app={app} ({APP}), peer={namespaces['peer']} ({PEER})")
        ok = step("plan: what the init container will commit", proxyinit(app, "plan"))
        ok &= step("init container: proxyinit (APPMESH_START_ENABLED=1)", proxyinit(app))
        ok &= step("restart: proxyinit again (must change nothing)", proxyinit(app))
        print("\n== probes through the rules")
        ok &= all([run_probe(probe, namespaces) for probe in PROBES])
        ok &= step("status: our rules, compared with the plan", proxyinit(app, "status"))
        ok &= step("clean", proxyinit(app, "clean"))
        print("\n== after clean, the app reaches the peer directly")
        ok &= run_probe(
            Probe("app (uid 1000) -> peer:80", "app", PEER, 80, 1000, f"peer {PEER}:80"), namespaces
        )
    print(f"\nnamespaces removed. demo {'passed' if ok else 'FAILED'}.")
    return 0 if ok else 1
