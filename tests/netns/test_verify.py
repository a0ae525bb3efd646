"""`proxyinit verify`: real SYNs through the namespace, before and after apply, with and
without a live listener on the proxy ports (Envoy's stand-ins from build_topology)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from proxyinit.lab.netns import netns_exec, sh
from tests.cases import env
from tests.netns.conftest import IGNORED4, IGNORED6, PEER4, build_topology, proxyinit

CONFIG = env(
    ENABLE_IPV6="1",
    IGNORE_GID="1338",
    EGRESS_IGNORED_PORTS="3306",
    EGRESS_IGNORED_IP=f"{IGNORED4},{IGNORED6}",
)


CONFIG_ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("APPMESH_")}, **CONFIG}


def verify(ns: str, *args: str, env: dict | None = None, backend: str = "auto"):
    return proxyinit(ns, "verify", *args, env=env or CONFIG, backend=backend)


@pytest.fixture
def bare(lab):
    """An app namespace with a peer, and nothing listening on the proxy ports."""
    app, peer = lab.add_namespace("pi-vapp"), lab.add_namespace("pi-vpeer")
    lab.link(app, ["198.18.0.1/24", "2001:2::1/64"], peer, ["198.18.0.2/24", "2001:2::2/64"])
    return app


def test_verify_without_rules_names_each_path_and_exits_5(bare):
    result = verify(bare)
    assert result.returncode == 5, result.stdout + result.stderr
    assert (
        "egress: connection to 198.18.0.254:80 from uid 65534 gid 65534 was not redirected to 15001"
        in result.stderr
    )
    assert (
        "ingress: connection from outside to 169.254.255.1:9080 was not redirected to 15000"
        in result.stderr
    )
    assert (
        "ingress: connection from outside to [fd70:726f:7879::1]:9080 was not redirected"
        in result.stderr
    )
    # The probe's veth is gone again.
    assert "piv" not in sh(*netns_exec(bare, "ip", "-o", "link"))


@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_verify_after_apply_passes_on_both_families(bare, backend):
    assert proxyinit(bare, "apply", env=CONFIG, backend=backend).returncode == 0
    result = verify(bare, "--json", backend=backend)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    paths = {(c["path"], c["family"]) for c in document["checks"] if not c["skipped"]}
    for family in ("ipv4", "ipv6"):
        for path in (
            "egress",
            "egress-uid",
            "egress-gid",
            "egress-ignored-port",
            "egress-ignored-ip",
            "egress-local",
            "ingress",
        ):
            assert (path, family) in paths
    assert document["ok"] is True


def test_verify_finds_rules_wiped_behind_our_back(bare):
    assert proxyinit(bare, "apply", env=CONFIG, backend="legacy").returncode == 0
    sh(*netns_exec(bare, "iptables-legacy", "-t", "nat", "-F", "APPMESH_EGRESS"))
    result = verify(bare, backend="legacy")
    assert result.returncode == 5
    failed = [line for line in result.stderr.splitlines() if "FAILED" in line]
    assert failed == [
        "proxyinit: verify: FAILED egress: connection to 198.18.0.254:80 from uid 65534 gid 65534 "
        "was not redirected to 15001"
    ]


def test_verify_next_to_live_listeners_leaves_them_serving(lab):
    topo = build_topology(lab)
    assert proxyinit(topo.app, "apply", env=CONFIG, backend="legacy").returncode == 0
    result = verify(topo.app, backend="legacy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert topo.connect(PEER4, 80, uid=1000) == f"egress {PEER4}:80"
    assert topo.connect("198.18.0.1", 9080, uid=None, ns=topo.peer) == "ingress 198.18.0.1:9080"


def test_entrypoint_verify_exits_5_and_keeps_rules_when_another_rule_shadows_ours(bare):
    """Another tool's RETURN ahead of our jump: apply succeeds, traffic is not intercepted."""
    sh(
        *netns_exec(
            bare,
            "iptables-legacy",
            "-t",
            "nat",
            "-I",
            "OUTPUT",
            "1",
            "-p",
            "tcp",
            "--dport",
            "80",
            "-j",
            "RETURN",
        )
    )
    result = proxyinit(bare, env={**CONFIG, "PROXYINIT_VERIFY": "1"}, backend="legacy")
    assert result.returncode == 5, result.stderr
    assert "FAILED egress: connection to 198.18.0.254:80" in result.stderr
    assert "APPMESH_EGRESS" in sh(*netns_exec(bare, "iptables-legacy-save", "-t", "nat"))


def test_entrypoint_verify_passes_after_apply(bare):
    result = proxyinit(bare, env={**CONFIG, "PROXYINIT_VERIFY": "1"}, backend="legacy")
    assert result.returncode == 0, result.stderr
    assert "redirected to 15001" in result.stdout


def test_bare_entrypoint_prints_everything_before_its_fast_exit(bare):
    """`proxyinit` with no arguments ends with os._exit (cli._exit_now): stdout and stderr,
    pipes here, must still carry every line, and the exit code must be verify's."""
    result = subprocess.run(
        netns_exec(bare, sys.executable, "-m", "proxyinit"),
        env={**CONFIG_ENV, "PROXYINIT_VERIFY": "1", "PROXYINIT_BACKEND": "legacy"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "committed" in result.stderr and "redirected to 15001" in result.stdout
    assert result.stdout.endswith("\n") and result.stdout.count("proxyinit: verify:") > 3


def test_verify_without_cap_sys_admin_reports_ingress_not_tested(bare):
    """An init container with NET_ADMIN only: egress is proven, ingress is said not tested."""
    assert proxyinit(bare, "apply", env=CONFIG, backend="legacy").returncode == 0
    argv = ["setpriv", "--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin"]
    argv += [sys.executable, "-m", "proxyinit", "--backend", "legacy", "verify"]
    result = subprocess.run(
        netns_exec(bare, *argv), capture_output=True, text=True, env=CONFIG_ENV, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "egress: connection to 198.18.0.254:80" in result.stdout
    assert "ingress: connection from outside to app port 9080: not tested" in result.stdout
    assert "needs CAP_SYS_ADMIN" in result.stdout


def test_entrypoint_refuses_an_unknown_verify_switch_before_changing_anything(bare):
    result = proxyinit(bare, env={**CONFIG, "PROXYINIT_VERIFY": "yes"}, backend="legacy")
    assert result.returncode == 2 and "PROXYINIT_VERIFY='yes'" in result.stderr
    assert "APPMESH" not in sh(*netns_exec(bare, "iptables-legacy-save"))
