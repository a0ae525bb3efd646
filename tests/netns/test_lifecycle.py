"""CLI behaviour in a real namespace: bad input changes nothing, status codes, drift, auto backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxyinit.lab.netns import netns_exec, sh
from tests.cases import BAD_INPUTS, env
from tests.netns.conftest import add_foreign_rules, proxyinit, save


@pytest.fixture(scope="module")
def configured():
    """A namespace with foreign rules and our rules applied: bad input must leave both alone."""
    from proxyinit.lab.netns import Lab

    lab = Lab()
    try:
        ns = lab.add_namespace("pi-bad")
        add_foreign_rules(ns, "nft")
        assert proxyinit(ns, "apply", env=env()).returncode == 0
        yield ns
    finally:
        lab.close()


@pytest.mark.parametrize(
    ("name", "changes", "variable", "value"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_exits_2_and_changes_nothing(configured, name, changes, variable, value):
    before = [save(configured, "nft", v6) for v6 in (False, True)]
    result = proxyinit(configured, "apply", env=env(**changes))
    assert result.returncode == 2, result.stderr
    assert variable in result.stderr and value in result.stderr
    assert [save(configured, "nft", v6) for v6 in (False, True)] == before


def test_entrypoint_enabled_applies(netns):
    assert proxyinit(netns, env=env()).returncode == 0
    assert "proxyinit/egress-redirect" in save(netns, "nft")


def test_status_absent_match_drift_and_repair(netns):
    assert proxyinit(netns, "status", env=env()).returncode == 4
    assert proxyinit(netns, "apply", env=env()).returncode == 0
    assert proxyinit(netns, "status", env=env()).returncode == 0
    sh(
        *netns_exec(
            netns,
            "iptables-nft",
            "-t",
            "nat",
            "-I",
            "APPMESH_EGRESS",
            "-p",
            "tcp",
            "--dport",
            "8443",
            "-j",
            "RETURN",
        )
    )
    drift = proxyinit(netns, "status", env=env())
    assert drift.returncode == 3 and "8443" in drift.stdout
    plan = proxyinit(netns, "plan", env=env())
    assert ":APPMESH_EGRESS - [0:0]" in plan.stdout and "APPMESH_INGRESS" not in plan.stdout
    assert proxyinit(netns, "apply", env=env()).returncode == 0
    assert proxyinit(netns, "status", env=env()).returncode == 0
    assert "8443" not in save(netns, "nft")


def test_changed_env_is_replaced_in_place(netns):
    assert proxyinit(netns, "apply", env=env(APP_PORTS="9080")).returncode == 0
    assert proxyinit(netns, "apply", env=env(APP_PORTS="9090,9091")).returncode == 0
    text = save(netns, "nft")
    assert "--dports 9090,9091" in text and "9080" not in text
    assert text.count("proxyinit/ingress-jump") == 1


def test_many_ports_split_not_truncated(netns):
    ports = ",".join(str(p) for p in range(20000, 20040))
    assert proxyinit(netns, "apply", env=env(APP_PORTS=ports)).returncode == 0
    text = save(netns, "nft")
    assert all(str(p) in text for p in range(20000, 20040))


@pytest.mark.parametrize("variant", ["legacy", "nft"])
def test_auto_follows_the_variant_already_in_use(netns, variant):
    sh(*netns_exec(netns, f"iptables-{variant}", "-A", "INPUT", "-p", "udp", "-j", "ACCEPT"))
    result = proxyinit(netns, "apply", env=env())
    assert result.returncode == 0 and f"backend {variant}" in result.stderr
    assert "APPMESH_EGRESS" in save(netns, variant)


def test_auto_refuses_a_namespace_with_both_variants(netns):
    for variant in ("legacy", "nft"):
        sh(*netns_exec(netns, f"iptables-{variant}", "-A", "INPUT", "-p", "udp", "-j", "ACCEPT"))
    result = proxyinit(netns, "apply", env=env())
    assert result.returncode == 1 and "both" in result.stderr


def test_netns_by_path_and_unknown_namespace(netns):
    assert proxyinit(f"/run/netns/{netns}", "apply", env=env()).returncode == 0
    assert "APPMESH_EGRESS" in save(netns, "nft")
    missing = proxyinit("pi-no-such-namespace", "apply", env=env())
    assert missing.returncode == 2 and "pi-no-such-namespace" in missing.stderr


def test_disabled_entrypoint_leaves_applied_rules_alone(configured):
    before = [save(configured, "nft", v6) for v6 in (False, True)]
    result = proxyinit(configured, env=env(START_ENABLED="0", APP_PORTS="7000"))
    assert result.returncode == 0 and "disabled" in result.stderr
    assert [save(configured, "nft", v6) for v6 in (False, True)] == before


def test_disabled_entrypoint_needs_nothing_else(netns):
    result = proxyinit(netns, env={"APPMESH_START_ENABLED": "0"})
    assert result.returncode == 0, result.stderr


def test_empty_netns_name_is_an_error_not_the_current_namespace():
    result = proxyinit("", "apply", env=env())
    assert result.returncode == 2 and "--netns ''" in result.stderr


def test_concurrent_applies_leave_one_set_of_rules(netns):
    import subprocess
    import sys

    argv = [sys.executable, "-m", "proxyinit", "--netns", netns, "apply"]
    procs = [
        subprocess.Popen(
            argv,
            env={**env(), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    assert all(proc.wait(timeout=60) == 0 for proc in procs)
    text = save(netns, "nft")
    assert text.count("proxyinit/egress-jump") == 1 and text.count("proxyinit/ingress-jump") == 1


def test_explicit_backend_refuses_to_mix_variants(netns):
    sh(*netns_exec(netns, "iptables-legacy", "-A", "INPUT", "-p", "udp", "-j", "ACCEPT"))
    result = proxyinit(netns, "apply", env=env(), backend="nft")
    assert result.returncode == 1 and "mix" in result.stderr
    assert "APPMESH" not in save(netns, "nft") + save(netns, "legacy")


def test_rules_left_by_the_aws_route_manager_are_adopted(netns):
    script = Path(__file__).resolve().parents[2] / "bench" / "appmesh-route-manager.sh"
    aws_env = {
        **env(),
        "IPTABLES": "iptables-nft",
        "IP6TABLES": "ip6tables-nft",
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    import subprocess

    subprocess.run(netns_exec(netns, "sh", str(script)), env=aws_env, check=True)
    assert "proxyinit/" not in save(netns, "nft")
    assert proxyinit(netns, "apply", env=env()).returncode == 0
    assert proxyinit(netns, "status", env=env()).returncode == 0
    text = save(netns, "nft")
    assert text.count("-j APPMESH_EGRESS") == 1 and text.count("-j APPMESH_INGRESS") == 1


def test_turning_ipv6_off_removes_our_ipv6_rules(netns):
    assert proxyinit(netns, "apply", env=env(ENABLE_IPV6="1")).returncode == 0
    assert "APPMESH_EGRESS" in save(netns, "nft", v6=True)
    assert proxyinit(netns, "apply", env=env(ENABLE_IPV6="0")).returncode == 0
    assert "APPMESH" not in save(netns, "nft", v6=True)
    assert "APPMESH_EGRESS" in save(netns, "nft")


def test_backend_from_the_environment_for_the_bare_entrypoint(netns):
    import subprocess
    import sys

    base_env = {**env(), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    bogus = subprocess.run(
        netns_exec(netns, sys.executable, "-m", "proxyinit"),
        env={**base_env, "PROXYINIT_BACKEND": "ipfw"},
        capture_output=True,
        text=True,
    )
    assert bogus.returncode == 2 and "PROXYINIT_BACKEND='ipfw'" in bogus.stderr
    assert "APPMESH" not in save(netns, "legacy") + save(netns, "nft")
    legacy = subprocess.run(
        netns_exec(netns, sys.executable, "-m", "proxyinit"),
        env={**base_env, "PROXYINIT_BACKEND": "legacy"},
        capture_output=True,
        text=True,
    )
    assert legacy.returncode == 0, legacy.stderr
    assert "APPMESH_EGRESS" in save(netns, "legacy") and "APPMESH" not in save(netns, "nft")
