"""Fixtures for tests that need root: real namespaces, real iptables, real TCP.

Every namespace and process a fixture creates is removed on teardown, also when the test fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest

from proxyinit.lab.netns import Lab, netns_exec, probe_command, sh

APP4, PEER4, IGNORED4 = "198.18.0.1", "198.18.0.2", "198.18.0.3"
APP6, PEER6, IGNORED6 = "2001:2::1", "2001:2::2", "2001:2::3"
BACKENDS = ("iptc", "legacy", "nft")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/netns" in str(item.fspath):
            item.add_marker(pytest.mark.root)


@pytest.fixture(scope="session", autouse=True)
def needs_root():
    if os.geteuid() != 0:
        pytest.fail(
            "tests/netns needs root (network namespaces, iptables): run `make test` as root",
            pytrace=False,
        )


@pytest.fixture
def lab():
    current = Lab()
    try:
        yield current
    finally:
        current.close()


@pytest.fixture
def netns(lab):
    return lab.add_namespace("pi-t")


def variant_of(backend: str) -> str:
    return "legacy" if backend in ("iptc", "legacy") else "nft"


def save(ns: str, variant: str, v6: bool = False) -> str:
    """iptables-save without the timestamped comment lines and counters."""
    tool = f"{'ip6tables' if v6 else 'iptables'}-{variant}-save"
    text = sh(*netns_exec(ns, tool))
    lines = (
        re.sub(r"\[\d+:\d+\]$", "[0:0]", line)
        for line in text.splitlines()
        if not line.startswith("#")
    )
    return "\n".join(lines)


def proxyinit(
    ns: str, *args: str, env: dict[str, str] | None = None, backend: str = "auto"
) -> subprocess.CompletedProcess:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("APPMESH_")}
    clean_env.update(env or {})
    argv = [sys.executable, "-m", "proxyinit", "--netns", ns, "--backend", backend, *args]
    return subprocess.run(argv, capture_output=True, text=True, env=clean_env, check=False)


def add_foreign_rules(ns: str, variant: str) -> None:
    """Rules someone else owns, in nat and filter, v4 and v6: they must survive us byte for byte."""
    for tool in ("iptables", "ip6tables"):
        restore = f"{tool}-{variant}-restore"
        text = "\n".join(
            [
                "*nat",
                ":FOREIGN - [0:0]",
                "-A FOREIGN -p udp -j RETURN",
                "-A OUTPUT -p udp -j FOREIGN",
                "-A PREROUTING -p udp --dport 5353 -j RETURN",
                "COMMIT",
                "*filter",
                "-A INPUT -p tcp --dport 9999 -j ACCEPT",
                "COMMIT",
                "",
            ]
        )
        sh(*netns_exec(ns, restore, "--noflush"), stdin=text)


@dataclass
class Topology:
    app: str
    peer: str
    lab: Lab

    def connect(
        self,
        host: str,
        port: int,
        uid: int | None = 1000,
        gid: int | None = None,
        ns: str | None = None,
    ) -> str:
        args = ["connect", host, str(port)]
        args += ["--uid", str(uid)] if uid is not None else []
        args += ["--gid", str(gid)] if gid is not None else []
        proc = subprocess.run(
            netns_exec(ns or self.app, *probe_command(*args)),
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.strip() or f"failed: {proc.stderr.strip().splitlines()[-1:]}"


def build_topology(lab: Lab) -> Topology:
    """app <-veth-> peer. The app namespace runs Envoy stand-ins on 15000/15001 and a local
    server on 8080; the peer serves 80, 22 and 3306 on its two addresses (one is ignored)."""
    app, peer = lab.add_namespace("pi-app"), lab.add_namespace("pi-peer")
    lab.link(
        app,
        [f"{APP4}/24", f"{APP6}/64"],
        peer,
        [f"{PEER4}/24", f"{IGNORED4}/24", f"{PEER6}/64", f"{IGNORED6}/64"],
    )
    lab.spawn(app, *probe_command("serve", "ingress", "15000"), ready_line="ready")
    lab.spawn(app, *probe_command("serve", "egress", "15001"), ready_line="ready")
    lab.spawn(app, *probe_command("serve", "local", "8080,9080"), ready_line="ready")
    lab.spawn(peer, *probe_command("serve", "peer", "80,22,3306"), ready_line="ready")
    return Topology(app, peer, lab)
