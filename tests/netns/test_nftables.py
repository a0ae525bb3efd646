"""The native nftables backend in real namespaces: real TCP through the sets, idempotent
re-runs, drift repair, clean, `auto` following it, and never mixing with our iptables rules."""

from __future__ import annotations

import pytest

from proxyinit.lab.netns import Lab, netns_exec, sh
from tests.netns.conftest import PEER4, PEER6, build_topology, proxyinit
from tests.netns.test_redirect import CONFIG, FAMILIES, fmt

NFT = "nftables"


def table(ns: str) -> str:
    return sh(*netns_exec(ns, "nft", "list", "table", "inet", "proxyinit"), check=False)


@pytest.fixture(scope="module")
def applied():
    lab = Lab()
    try:
        topo = build_topology(lab)
        result = proxyinit(topo.app, "apply", env=CONFIG, backend=NFT)
        assert result.returncode == 0, result.stderr
        yield topo
    finally:
        lab.close()


@pytest.mark.parametrize("family", FAMILIES)
def test_redirects_and_exemptions_with_real_tcp(applied, family):
    topo = applied
    app, peer, ignored, loopback = FAMILIES[family]
    assert topo.connect(peer, 80, uid=1000) == f"egress {fmt(peer, 80)}"
    assert topo.connect(peer, 80, uid=1337) == f"peer {fmt(peer, 80)}"
    assert topo.connect(peer, 80, uid=1000, gid=1338) == f"peer {fmt(peer, 80)}"
    assert topo.connect(peer, 3306, uid=1000) == f"peer {fmt(peer, 3306)}"
    assert topo.connect(peer, 22, uid=1000) == f"peer {fmt(peer, 22)}"
    assert topo.connect(ignored, 80, uid=1000) == f"peer {fmt(ignored, 80)}"
    assert topo.connect(loopback, 8080, uid=1000) == f"local {fmt(loopback, 8080)}"
    assert topo.connect(app, 9080, uid=None, ns=topo.peer) == f"ingress {fmt(app, 9080)}"
    assert topo.connect(app, 8080, uid=None, ns=topo.peer) == f"local {fmt(app, 8080)}"


def test_rerun_commits_nothing_status_matches_plan_empty_and_auto_follows(applied):
    before = table(applied.app)
    again = proxyinit(applied.app, "apply", env=CONFIG)  # auto
    assert again.returncode == 0, again.stderr
    assert "backend nftables" in again.stderr and "in sync, nothing committed" in again.stderr
    assert table(applied.app) == before
    assert proxyinit(applied.app, "status", env=CONFIG, backend=NFT).returncode == 0
    plan = proxyinit(applied.app, "plan", env=CONFIG, backend=NFT)
    assert "in sync, nothing to commit" in plan.stdout and "table inet" not in plan.stdout
    assert proxyinit(applied.app, "verify", env=CONFIG, backend=NFT).returncode == 0


def test_iptables_backend_refused_while_our_table_exists(applied):
    for backend in ("legacy", "nft", "iptc"):
        result = proxyinit(applied.app, "apply", env=CONFIG, backend=backend)
        assert result.returncode == 1
        assert "would mix backends" in result.stderr and "inet proxyinit" in result.stderr


def test_drift_is_reported_then_repaired(lab):
    topo = build_topology(lab)
    assert proxyinit(topo.app, "apply", env=CONFIG, backend=NFT).returncode == 0
    sh(*netns_exec(topo.app, "nft", "flush", "chain", "inet", "proxyinit", "egress"))
    assert topo.connect(PEER6, 80, uid=1000) == f"peer {fmt(PEER6, 80)}"
    assert proxyinit(topo.app, "status", env=CONFIG, backend=NFT).returncode == 3
    fixed = proxyinit(topo.app, "apply", env=CONFIG, backend=NFT)
    assert "replaced the table" in fixed.stderr
    assert topo.connect(PEER6, 80, uid=1000) == f"egress {fmt(PEER6, 80)}"
    for _ in range(2):
        assert proxyinit(topo.app, "clean", backend=NFT).returncode == 0
    assert table(topo.app) == ""
    assert proxyinit(topo.app, "status", env=CONFIG, backend=NFT).returncode == 4
    assert topo.connect(PEER4, 80, uid=1000) == f"peer {PEER4}:80"


def test_nftables_refused_next_to_our_iptables_rules(netns):
    assert proxyinit(netns, "apply", env=CONFIG, backend="legacy").returncode == 0
    result = proxyinit(netns, "apply", env=CONFIG, backend=NFT)
    assert result.returncode == 1
    assert "iptables-legacy rules" in result.stderr and "--backend legacy clean" in result.stderr
    assert table(netns) == ""


def test_a_thousand_ignored_ips_and_ports_stay_a_few_rules(netns):
    ips = ",".join(f"198.19.{i // 256}.{i % 256}" for i in range(1000))
    ports = ",".join(str(30000 + i) for i in range(1000))
    big = {**CONFIG, "APPMESH_EGRESS_IGNORED_IP": ips, "APPMESH_EGRESS_IGNORED_PORTS": ports}
    assert proxyinit(netns, "apply", env=big, backend=NFT).returncode == 0
    again = proxyinit(netns, "apply", env=big, backend=NFT)
    assert "in sync, nothing committed" in again.stderr
    listed = table(netns)
    assert listed.count("return comment") == 5  # uid, gid, ports, ipv4, ipv6: not 2,000 rules
    assert "198.19.3.231" in listed and "30999" in listed


@pytest.mark.parametrize("backend", ["legacy", NFT])
def test_uid_list_and_host_bit_cidr_with_real_tcp(lab, backend):
    """Migration-safe input applied: both uids bypass, 198.18.0.3/31 means 198.18.0.2/31."""
    topo = build_topology(lab)
    config = {
        **CONFIG,
        "APPMESH_IGNORE_UID": "1337,1500",
        "APPMESH_EGRESS_IGNORED_IP": "198.18.0.3/31,2001:2::3/127",
    }
    result = proxyinit(topo.app, "apply", env=config, backend=backend)
    assert result.returncode == 0, result.stderr
    assert "has host bits set: applied as 198.18.0.2/31" in result.stderr
    for uid in (1337, 1500):
        assert topo.connect(PEER4, 80, uid=uid) == f"peer {PEER4}:80"
    assert topo.connect(PEER6, 80, uid=1500) == f"peer {fmt(PEER6, 80)}"
    # 198.18.0.2 is in the canonical network, not in what was written: the network applies.
    assert topo.connect(PEER4, 80, uid=1000) == f"peer {PEER4}:80"
    assert topo.connect("198.18.0.1", 9080, uid=None, ns=topo.peer) == "ingress 198.18.0.1:9080"
    assert proxyinit(topo.app, "verify", env=config, backend=backend).returncode == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [("IGNORE_UID", "1337,root"), ("APP_PORTS", "9000:9100,9080"), ("EGRESS_IGNORED_IP", "x")],
)
def test_bad_input_changes_nothing_in_the_table(applied, variable, value):
    before = table(applied.app)
    result = proxyinit(
        applied.app, "apply", env={**CONFIG, f"APPMESH_{variable}": value}, backend=NFT
    )
    assert result.returncode == 2 and f"APPMESH_{variable}" in result.stderr
    assert table(applied.app) == before


def test_iptables_backends_work_where_nft_cannot_list(netns, tmp_path):
    """An `nft` that fails (no nf_tables in the kernel, say) must not break auto or legacy."""
    fake = tmp_path / "nft"
    fake.write_text(
        "#!/bin/sh\necho 'Error: Could not process rule: Operation not supported' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    import os

    path = f"{tmp_path}:{os.environ['PATH']}"
    for backend in ("legacy", "auto"):  # auto then follows the legacy rules
        result = proxyinit(netns, "apply", env={**CONFIG, "PATH": path}, backend=backend)
        assert result.returncode == 0, result.stderr


def test_host_addresses_are_a_plain_set_and_a_cidr_makes_it_an_interval_set(lab):
    """Single addresses are a plain (hash) set, cheaper to load; a CIDR needs intervals. Going
    from one to the other replaces the table in one transaction, and both match with real TCP."""
    topo = build_topology(lab)
    assert proxyinit(topo.app, "apply", env=CONFIG, backend=NFT).returncode == 0
    ipv4_set = table(topo.app).split("set egress_ignored_ipv4")[1].split("}")[0]
    assert "flags interval" not in ipv4_set and "198.18.0" in ipv4_set
    assert topo.connect(PEER4, 80, uid=1000) == f"egress {PEER4}:80"
    with_cidr = {**CONFIG, "APPMESH_EGRESS_IGNORED_IP": f"{PEER4[:-1]}0/24,2001:2::9"}
    result = proxyinit(topo.app, "apply", env=with_cidr, backend=NFT)
    assert result.returncode == 0 and "replaced the table" in result.stderr, result.stderr
    listed = table(topo.app)
    assert "flags interval" in listed.split("set egress_ignored_ipv4")[1].split("}")[0]
    assert "flags interval" not in listed.split("set egress_ignored_ipv6")[1].split("}")[0]
    assert topo.connect(PEER4, 80, uid=1000) == f"peer {PEER4}:80"
    again = proxyinit(topo.app, "apply", env=with_cidr, backend=NFT)
    assert "in sync, nothing committed" in again.stderr
