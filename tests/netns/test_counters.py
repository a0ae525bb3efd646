"""Hardening item 9: committing our rules must keep the counters of chains we do not own.

The legacy and iptc backends reset the nat built-in chains' policy counters on every commit.
"""

from __future__ import annotations

import re

import pytest

from proxyinit.lab.netns import netns_exec, sh
from tests.cases import env
from tests.netns.conftest import BACKENDS, proxyinit, variant_of

COUNTERS = {
    "PREROUTING": "11:1100",
    "INPUT": "12:1200",
    "OUTPUT": "13:1300",
    "POSTROUTING": "14:1400",
}


def policy_counters(ns: str, variant: str, v6: bool) -> dict[str, str]:
    tool = f"{'ip6tables' if v6 else 'iptables'}-{variant}-save"
    text = sh(*netns_exec(ns, tool, "-c", "-t", "nat"))
    return dict(re.findall(r"^:(\w+) ACCEPT \[(\d+:\d+)\]$", text, re.M))


@pytest.mark.parametrize("backend", BACKENDS)
def test_policy_counters_survive_apply_and_clean(netns, backend):
    variant = variant_of(backend)
    for tool in ("iptables", "ip6tables"):
        chains = "".join(f":{chain} ACCEPT [{count}]\n" for chain, count in COUNTERS.items())
        restore = netns_exec(netns, f"{tool}-{variant}-restore", "-c")
        sh(*restore, stdin=f"*nat\n{chains}COMMIT\n")
    config = env(ENABLE_IPV6="1")
    for command in ("apply", "clean"):
        result = proxyinit(netns, command, env=config, backend=backend)
        assert result.returncode == 0, result.stderr
        for v6 in (False, True):
            assert policy_counters(netns, variant, v6) == COUNTERS, (command, v6)
