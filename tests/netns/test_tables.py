"""backends/tables.py: the kernel's list of netfilter tables (no process) says what the tools
would list, so skipping a `*-save` or `nft list` it makes pointless changes no decision."""

from __future__ import annotations

import json
import subprocess
import sys

from proxyinit.lab.netns import netns_exec, sh
from tests.netns.conftest import add_foreign_rules

PROBE = """
import json
from proxyinit.firewall.backends import tables
from proxyinit.firewall.backends.select import in_use, survey
from proxyinit.firewall.model import Family
found = tables.nf_tables()
print(json.dumps({
    "nf": sorted(f"{family} {name}" for family, name in found),
    "legacy4": sorted(tables.legacy_tables(Family.IPV4)),
    "legacy6": sorted(tables.legacy_tables(Family.IPV6)),
    "in_use": in_use(survey()),
}))
"""
NF_FAMILIES = {"inet": 1, "ip": 2, "ip6": 10}


def probe(ns: str) -> dict:
    proc = subprocess.run(
        netns_exec(ns, sys.executable, "-c", PROBE),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(proc.stdout)


def listed_by_nft(ns: str) -> list[str]:
    lines = sh(*netns_exec(ns, "nft", "list", "tables")).splitlines()
    return sorted(
        f"{NF_FAMILIES[family]} {name}"
        for _, family, name in (line.split() for line in lines if line.startswith("table "))
    )


def listed_by_legacy_save(ns: str, tool: str) -> list[str]:
    text = sh(*netns_exec(ns, tool))
    return sorted(line[1:] for line in text.splitlines() if line.startswith("*"))


def check(ns: str, in_use: list[str]) -> None:
    found = probe(ns)
    assert found["nf"] == listed_by_nft(ns)
    assert found["legacy4"] == listed_by_legacy_save(ns, "iptables-legacy-save")
    assert found["legacy6"] == listed_by_legacy_save(ns, "ip6tables-legacy-save")
    assert found["in_use"] == in_use


def test_fresh_namespace_has_no_tables(netns):
    assert probe(netns)["nf"] == [] and probe(netns)["legacy4"] == []
    check(netns, [])


def test_tables_of_each_kind_are_seen(netns):
    add_foreign_rules(netns, "nft")
    check(netns, ["nft"])
    sh(*netns_exec(netns, "nft", "add", "table", "inet", "proxyinit"))
    sh(*netns_exec(netns, "ip6tables-legacy", "-t", "nat", "-N", "SOMEONE"))
    check(netns, ["legacy", "nft"])
    assert "1 proxyinit" in probe(netns)["nf"]


def test_an_empty_legacy_table_is_read_by_its_save(netns):
    """A table with no rules is listed: the save runs and finds nothing in use."""
    sh(*netns_exec(netns, "iptables-legacy", "-t", "mangle", "-L", "-n"))
    found = probe(netns)
    assert found["legacy4"] == ["mangle"] and found["in_use"] == []


def logging_tools(tmp_path, names: list[str]):
    """Wrappers first on PATH that log their name, then run the real tool."""
    log = tmp_path / "calls"
    for name in names:
        wrapper = tmp_path / name
        wrapper.write_text(f'#!/bin/sh\necho {name} >> {log}\nexec /usr/sbin/{name} "$@"\n')
        wrapper.chmod(0o755)
    return log


def test_a_fresh_namespace_is_read_without_a_process(netns, tmp_path):
    from tests.netns.conftest import proxyinit
    from tests.netns.test_redirect import CONFIG

    readers = [
        f"{prefix}-{variant}-save"
        for prefix in ("iptables", "ip6tables")
        for variant in ("legacy", "nft")
    ]
    log = logging_tools(tmp_path, [*readers, "nft"])
    env = {**CONFIG, "APPMESH_ENABLE_IPV6": "1", "PATH": f"{tmp_path}:/usr/sbin:/usr/bin:/bin"}
    result = proxyinit(netns, env=env, backend="auto")
    assert result.returncode == 0, result.stderr
    assert not log.exists()  # nothing there to read: no save, no `nft list`
    result = proxyinit(netns, env=env, backend="auto")  # now our rules are there: read them
    assert result.returncode == 0, result.stderr
    calls = sorted(log.read_text().split())  # the saves of the variant in use, no `nft list`
    variant = "legacy" if "-legacy-" in calls[0] else "nft"
    assert calls == [f"ip6tables-{variant}-save", f"iptables-{variant}-save"]
