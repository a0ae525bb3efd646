"""Parse `iptables-save -t nat` output into what we own (Observed). Pure.

Ownership: the chains APPMESH_EGRESS, APPMESH_INGRESS and APPMESH_DNS, and rules in built-in
chains that carry our comment tag or jump to one of them. The latter adopts rules left by AWS's own route manager
(untagged), so moving from App Mesh replaces them instead of stacking a second set on top.
"""

from __future__ import annotations

import itertools

from proxyinit.firewall.model import (
    BUILTIN_CHAINS,
    COMMENT_PREFIX,
    OWNED_CHAINS,
    TABLE,
    Family,
    Observed,
    save_address,
)
from proxyinit.netaddr import from_text


def nat_section(save_text: str, table: str = TABLE) -> list[str]:
    """The lines between `*nat` and its COMMIT, comments and blanks dropped."""
    lines: list[str] = []
    inside = False
    for raw in save_text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            inside = line[1:] == table
        elif line == "COMMIT":
            inside = False
        elif inside and line and not line.startswith("#"):
            lines.append(_strip_counters(line))
    return lines


def _strip_counters(line: str) -> str:
    # `iptables-save -c` prefixes rules with [packets:bytes]; counters are not state we own.
    if line.startswith("[") and "]" in line:
        return line.split("]", 1)[1].strip()
    return line


def _targets_owned_chain(line: str) -> bool:
    words = line.split()
    return any(
        flag in ("-j", "-g") and target in OWNED_CHAINS
        for flag, target in itertools.pairwise(words)
    )


def _is_owned_jump(line: str) -> bool:
    # Substring test first: this runs for every rule in the built-in chains of the nat table.
    tagged = f'--comment "{COMMENT_PREFIX}' in line or f"--comment {COMMENT_PREFIX}" in line
    return tagged or _targets_owned_chain(line)


def canonical(line: str) -> str:
    """A rule with its addresses in our rendering (model.save_address): another iptables
    build may print an IPv6 address or a /0 differently, and that is not a change."""
    if " -d " not in line and " -s " not in line:
        return line
    words = line.split(" ")
    out: list[str] = []
    i = 0
    while i < len(words):
        if words[i] in ("-d", "-s") and i + 1 < len(words):
            network = from_text(words[i + 1])
            if network is not None:
                out += [words[i], save_address(network)] if network.prefixlen else []
                i += 2
                continue
        out.append(words[i])
        i += 1
    return " ".join(out)


def parse_observed(save_text: str, family: Family) -> Observed:
    chains: dict[str, list[str]] = {}
    jumps: list[str] = []
    foreign_refs: list[str] = []
    for line in nat_section(save_text):
        if line.startswith(":"):
            name = line[1:].split()[0]
            if name in OWNED_CHAINS:
                chains.setdefault(name, [])
        elif line.startswith("-A "):
            chain = line.split()[1]
            if chain in OWNED_CHAINS:
                chains.setdefault(chain, []).append(canonical(line))
            elif chain in BUILTIN_CHAINS:
                if _is_owned_jump(line):
                    jumps.append(canonical(line))
            elif _targets_owned_chain(line):
                foreign_refs.append(line)
    return Observed(
        family,
        {name: tuple(rules) for name, rules in chains.items()},
        tuple(jumps),
        tuple(foreign_refs),
    )


def has_rules(save_text: str) -> bool:
    """True if any table holds a rule or a user chain (used to detect which backend is in use)."""
    for raw in save_text.splitlines():
        line = _strip_counters(raw.strip())
        if line.startswith("-A "):
            return True
        if line.startswith(":") and line[1:].split()[0] not in BUILTIN_CHAINS + ("FORWARD",):
            return True
    return False
