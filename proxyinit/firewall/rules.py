"""Settings -> the desired rules, per family. Pure: the same input always gives the same rules.

Effect is the original App Mesh route manager's (aws-appmesh-proxy-route-manager), but every
rule is tagged, and multiport lists are split instead of truncated: the AWS CNI plugin silently
dropped ports past the 15th, which we must never do.
"""

from __future__ import annotations

from proxyinit.firewall.dns_rules import dns_chain, dns_jumps, egress_dns_return
from proxyinit.firewall.model import (
    EGRESS_CHAIN,
    INGRESS_CHAIN,
    Chain,
    Desired,
    Family,
    Rule,
    save_address,
)
from proxyinit.settings import ALWAYS_IGNORED_PORT, PortRange, RedirectSettings

# xt_multiport accepts at most 15 entries; a range (a:b) takes two of them.
MULTIPORT_SLOTS = 15


def chunk_ports(
    ranges: tuple[PortRange, ...], slots: int = MULTIPORT_SLOTS
) -> list[tuple[PortRange, ...]]:
    """Split ports into groups that each fit one multiport match, keeping their order."""
    groups: list[list[PortRange]] = [[]]
    used = 0
    for port_range in ranges:
        if used + port_range.multiport_slots > slots:
            groups.append([])
            used = 0
        groups[-1].append(port_range)
        used += port_range.multiport_slots
    return [tuple(group) for group in groups if group]


def port_match(ranges: tuple[PortRange, ...]) -> tuple[str, ...]:
    """`-m tcp --dport P` for one port (as iptables-save prints it), multiport otherwise."""
    if len(ranges) == 1 and ranges[0].first == ranges[0].last:
        return ("-p", "tcp", "-m", "tcp", "--dport", str(ranges[0]))
    return ("-p", "tcp", "-m", "multiport", "--dports", ",".join(str(r) for r in ranges))


def address_match(network) -> tuple[str, ...]:
    """`-d NET` in iptables-save's words. A /0 matches every address and iptables-save omits
    it, so we do too: `0.0.0.0/0` (or `::/0`) ignores every destination, i.e. turns egress
    capture off for that family (settings warns), and still compares equal on the next run."""
    return () if network.prefixlen == 0 else ("-d", save_address(network))


def ignored_ports(settings: RedirectSettings) -> tuple[PortRange, ...]:
    ranges = settings.EGRESS_IGNORED_PORTS
    if any(r.contains(ALWAYS_IGNORED_PORT) for r in ranges):
        return ranges
    return (*ranges, PortRange(ALWAYS_IGNORED_PORT, ALWAYS_IGNORED_PORT))


def egress_chain(settings: RedirectSettings, family: Family) -> Chain:
    rules: list[Rule] = []
    for kind, ids in (("uid", settings.IGNORE_UIDS), ("gid", settings.IGNORE_GIDS)):
        for owner in ids:  # one rule each: the owner match takes one id (or one range)
            rules.append(
                Rule(
                    EGRESS_CHAIN,
                    ("-m", "owner", f"--{kind}-owner", str(owner)),
                    f"egress-{kind}",
                    ("-j", "RETURN"),
                )
            )
    if settings.REDIRECT_DNS:
        rules.append(egress_dns_return())
    for group in chunk_ports(ignored_ports(settings)):
        rules.append(Rule(EGRESS_CHAIN, port_match(group), "egress-ignored-port", ("-j", "RETURN")))
    version = 4 if family is Family.IPV4 else 6
    for network in settings.EGRESS_IGNORED_IP:
        if network.version == version:
            rules.append(
                Rule(
                    EGRESS_CHAIN,
                    (*address_match(network), "-p", "tcp"),
                    "egress-ignored-ip",
                    ("-j", "RETURN"),
                )
            )
    redirect = ("-j", "REDIRECT", "--to-ports", str(settings.ENVOY_EGRESS_PORT))
    rules.append(Rule(EGRESS_CHAIN, ("-p", "tcp"), "egress-redirect", redirect))
    return Chain(EGRESS_CHAIN, tuple(rules))


def ingress_chain(settings: RedirectSettings) -> Chain:
    redirect = ("-j", "REDIRECT", "--to-ports", str(settings.ENVOY_INGRESS_PORT))
    rules = tuple(
        Rule(INGRESS_CHAIN, port_match(group), "ingress-redirect", redirect)
        for group in chunk_ports(settings.APP_PORTS)
    )
    return Chain(INGRESS_CHAIN, rules)


def desired_for(settings: RedirectSettings, family: Family) -> Desired:
    """Owned chains plus the only rules we put in built-in chains: one jump each."""
    chains = [egress_chain(settings, family)]
    jumps = [
        Rule(
            "OUTPUT",
            ("-p", "tcp", "-m", "addrtype", "!", "--dst-type", "LOCAL"),
            "egress-jump",
            ("-j", EGRESS_CHAIN),
        )
    ]
    if settings.REDIRECT_DNS:
        chains.append(dns_chain(settings))
        jumps[:0] = dns_jumps()  # before the egress jump on a fresh table (see dns_rules.py)
    if settings.APP_PORTS:
        chains.append(ingress_chain(settings))
        # Ingress first in the jump list so PREROUTING is rendered before OUTPUT, as iptables-save
        # orders built-in chains; it keeps plan text and save output easy to compare by eye.
        jumps.insert(
            0,
            Rule(
                "PREROUTING",
                ("-p", "tcp", "-m", "addrtype", "!", "--src-type", "LOCAL"),
                "ingress-jump",
                ("-j", INGRESS_CHAIN),
            ),
        )
    return Desired(family, tuple(chains), tuple(jumps))


def families(settings: RedirectSettings) -> tuple[Family, ...]:
    return (Family.IPV4, Family.IPV6) if settings.ENABLE_IPV6 else (Family.IPV4,)
