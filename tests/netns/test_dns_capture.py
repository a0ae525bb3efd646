"""DNS capture (PROXYINIT_REDIRECT_DNS=1) with real UDP and TCP queries, for every backend.

The peer namespace runs the "real" resolver on port 53 (upstream.test -> 198.18.9.9, and a TCP
probe tagged `resolver`); the app namespace runs Envoy's stand-ins on the DNS port (upstream.test
-> 198.18.7.7, TCP tagged `dns`). A captured query gets the stand-in's answer.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from proxyinit.lab.netns import Lab, netns_exec, probe_command, sh
from tests.cases import env
from tests.netns.conftest import (
    BACKENDS,
    IGNORED4,
    IGNORED6,
    PEER4,
    PEER6,
    build_topology,
    proxyinit,
    variant_of,
)

REAL, CAPTURED = "198.18.9.9", "198.18.7.7"
CONFIG = env(
    ENABLE_IPV6="1",
    IGNORE_GID="1338",
    EGRESS_IGNORED_IP=f"{IGNORED4},{IGNORED6}",  # the resolver's address among them
    PROXYINIT_REDIRECT_DNS="1",
)
ALL_BACKENDS = (*BACKENDS, "nftables")


def dnsstub(*args: str) -> list[str]:
    return [sys.executable, "-m", "proxyinit.lab.dnsstub", *args]


def ask(ns: str, server: str, uid: int | None = 1000, port: int = 53) -> str:
    args = ["query", server, str(port), "upstream.test"]
    args += ["--uid", str(uid)] if uid is not None else []
    proc = subprocess.run(
        netns_exec(ns, *dnsstub(*args)), capture_output=True, text=True, timeout=10
    )
    return proc.stdout.strip() or proc.stderr.strip()[-300:]


def with_resolvers(lab: Lab):
    topo = build_topology(lab)
    lab.spawn(
        topo.peer,
        *dnsstub("serve", "53", f"upstream.test={REAL}", "--udp-only"),
        ready_line="ready",
    )
    lab.spawn(topo.peer, *probe_command("serve", "resolver", "53"), ready_line="ready")
    lab.spawn(
        topo.app,
        *dnsstub("serve", "15053", f"upstream.test={CAPTURED}", "--udp-only"),
        ready_line="ready",
    )
    lab.spawn(topo.app, *probe_command("serve", "dns", "15053"), ready_line="ready")
    return topo


@pytest.fixture(scope="module", params=ALL_BACKENDS)
def applied(request):
    lab = Lab()
    try:
        topo = with_resolvers(lab)
        result = proxyinit(topo.app, "apply", env=CONFIG, backend=request.param)
        assert result.returncode == 0, result.stderr
        yield request.param, topo
    finally:
        lab.close()


@pytest.mark.parametrize("server", [PEER4, PEER6, IGNORED4, IGNORED6, "127.0.0.1"])
def test_app_queries_go_to_the_dns_port_whatever_the_resolver(applied, server):
    _, topo = applied
    assert ask(topo.app, server) == CAPTURED


def test_envoy_and_ignored_gid_reach_the_real_resolver(applied):
    _, topo = applied
    assert ask(topo.app, PEER4, uid=1337) == REAL
    assert ask(topo.app, PEER6, uid=1337) == REAL


def test_tcp_53_goes_to_the_dns_port_and_envoy_s_reaches_the_resolver(applied):
    _, topo = applied
    assert topo.connect(PEER4, 53, uid=1000) == f"dns {PEER4}:53"
    assert topo.connect(IGNORED4, 53, uid=1000) == f"dns {IGNORED4}:53"
    assert topo.connect(PEER6, 53, uid=1000) == f"dns [{PEER6}]:53"
    assert topo.connect(PEER4, 53, uid=1337) == f"resolver {PEER4}:53"
    assert topo.connect(PEER4, 80, uid=1000) == f"egress {PEER4}:80"  # egress capture intact


def test_rerun_commits_nothing_and_status_matches(applied):
    backend, topo = applied
    again = proxyinit(topo.app, "apply", env=CONFIG, backend=backend)
    assert again.returncode == 0 and "changes" not in again.stderr, again.stderr
    assert proxyinit(topo.app, "status", env=CONFIG, backend=backend).returncode == 0
    plan = proxyinit(topo.app, "plan", env=CONFIG, backend=backend)
    assert "in sync" in plan.stdout, plan.stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_enabling_later_captures_tcp_although_the_egress_jump_comes_first(lab, backend):
    """An upgrade appends the DNS jumps after the existing egress jump: TCP/53 must not be
    taken by the egress capture (it returns from APPMESH_EGRESS, dns_rules.py)."""
    topo = with_resolvers(lab)
    assert proxyinit(topo.app, "apply", env=env(ENABLE_IPV6="1"), backend=backend).returncode == 0
    assert topo.connect(PEER4, 53, uid=1000) == f"egress {PEER4}:53"
    assert proxyinit(topo.app, "apply", env=CONFIG, backend=backend).returncode == 0
    assert topo.connect(PEER4, 53, uid=1000) == f"dns {PEER4}:53"
    assert ask(topo.app, PEER4) == CAPTURED
    assert proxyinit(topo.app, "status", env=CONFIG, backend=backend).returncode == 0


@pytest.mark.parametrize("backend", ["legacy", "nftables"])
def test_drift_is_reported_repaired_and_clean_removes_it(lab, backend):
    topo = with_resolvers(lab)
    assert proxyinit(topo.app, "apply", env=CONFIG, backend=backend).returncode == 0
    if backend == "nftables":
        sh(*netns_exec(topo.app, "nft", "flush", "chain", "inet", "proxyinit", "dns"))
    else:
        tool = f"iptables-{variant_of(backend)}"
        sh(*netns_exec(topo.app, tool, "-t", "nat", "-F", "APPMESH_DNS"))
    assert ask(topo.app, PEER4) == REAL
    assert proxyinit(topo.app, "status", env=CONFIG, backend=backend).returncode == 3
    assert proxyinit(topo.app, "apply", env=CONFIG, backend=backend).returncode == 0
    assert ask(topo.app, PEER4) == CAPTURED
    assert proxyinit(topo.app, "clean", backend=backend).returncode == 0
    assert proxyinit(topo.app, "status", env=CONFIG, backend=backend).returncode == 4
    assert ask(topo.app, PEER4) == REAL


@pytest.mark.parametrize("backend", ["legacy", "nftables"])
def test_verify_proves_dns_capture_and_finds_it_missing(lab, backend):
    app, peer = lab.add_namespace("pi-vdns"), lab.add_namespace("pi-vdnspeer")
    lab.link(app, ["198.18.0.1/24", "2001:2::1/64"], peer, ["198.18.0.2/24", "2001:2::2/64"])
    assert proxyinit(app, "apply", env=CONFIG, backend=backend).returncode == 0
    result = proxyinit(app, "verify", "--json", env=CONFIG, backend=backend)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = json.loads(result.stdout)["checks"]
    paths = {(c["path"], c["family"]) for c in checks if not c["skipped"]}
    for path in ("dns", "dns-local", "dns-ignored-ip", "dns-tcp", "dns-uid", "dns-gid"):
        assert {(path, "ipv4"), (path, "ipv6")} <= paths, path
    without = env(ENABLE_IPV6="1", IGNORE_GID="1338", EGRESS_IGNORED_IP=f"{IGNORED4},{IGNORED6}")
    assert proxyinit(app, "apply", env=without, backend=backend).returncode == 0
    missing = proxyinit(app, "verify", env=CONFIG, backend=backend)
    assert missing.returncode == 5
    assert "dns: UDP datagram to 198.18.0.254:53 from uid 65534" in missing.stderr, missing.stderr
