"""Settings -> the native nftables rule set: one `inet proxyinit` table for both families. Pure.

Ignored addresses and ports, and the app ports, are interval sets: a packet pays one set lookup
whatever their number, where iptables walks one rule per ignored address. The text is written
the way `nft list table` prints it back (element order, the `dstnat` priority name), so the
observed table compares with the desired one after both are reduced to tokens (normalize).
Semantics are rules.py's: the same exemptions, the same jumps, the same ownership tags.
"""

from __future__ import annotations

import _socket  # inet_ntoa without `socket`'s import cost (see firewall/model.py)

from proxyinit.firewall.dns_rules import PROTOCOLS
from proxyinit.firewall.model import save_address
from proxyinit.firewall.rules import ignored_ports
from proxyinit.settings import PortRange, RedirectSettings

FAMILY, TABLE = "inet", "proxyinit"
TABLE_REF = f"{FAMILY} {TABLE}"


def _port(r: PortRange) -> str:
    return str(r.first) if r.first == r.last else f"{r.first}-{r.last}"


def _network(network) -> str:
    # nft prints a single address without its /32 or /128, and IPv6 the C library's way.
    if network.version == 4 and network.prefixlen == 32:  # the common case, 3x cheaper
        return _socket.inet_ntoa(network.packed)
    text = save_address(network) if network.prefixlen else f"{network.address}/0"
    return text.rsplit("/", 1)[0] if network.prefixlen == network.max_prefixlen else text


def _set(name: str, kind: str, elements: list[str], interval: bool = True) -> list[str]:
    lines = [f"\tset {name} {{", f"\t\ttype {kind}"]
    lines += ["\t\tflags interval"] if interval else []
    if elements:
        lines.append(f"\t\telements = {{ {', '.join(elements)} }}")
    return [*lines, "\t}", ""]


def _address_set(settings: RedirectSettings, version: int) -> list[str]:
    """One family's ignored addresses. An interval set only when one is a CIDR: nft and the
    kernel take single addresses as a plain (hash) set ~2 ms faster per 1,000 than as
    intervals, and it matches the same. (Ports stay intervals: their plain set is slower.)"""
    wanted = [n for n in settings.EGRESS_IGNORED_IP if n.version == version]
    if version == 6 and not settings.ENABLE_IPV6:
        wanted = []  # accepted with a warning (settings.py), never applied
    elements = [_network(n) for n in sorted(wanted, key=lambda n: n.packed)]
    cidr = any(n.prefixlen < n.max_prefixlen for n in wanted)
    name, kind = (f"egress_ignored_ipv{version}", f"ipv{version}_addr")
    return _set(name, kind, elements, interval=cidr)


def _owner_rules(settings: RedirectSettings) -> list[str]:
    rules = []
    for key, values in (("skuid", settings.IGNORE_UIDS), ("skgid", settings.IGNORE_GIDS)):
        if len(values) == 1:
            rules.append(f'meta {key} {values[0]} return comment "proxyinit/egress-{key[2:]}"')
        elif values:
            listed = ", ".join(str(v) for v in sorted(values))
            rules.append(f'meta {key} {{ {listed} }} return comment "proxyinit/egress-{key[2:]}"')
    return rules


def _chain(name: str, rules: list[str], hook: str = "") -> list[str]:
    lines = [f"\tchain {name} {{"]
    if hook:
        lines.append(f"\t\t{hook}")
    return [*lines, *(f"\t\t{rule}" for rule in rules), "\t}", ""]


def _dns_rules(settings: RedirectSettings) -> list[str]:
    """dns_rules.py's chain: the ignored owners go to the real resolver, the rest to Envoy."""
    owners = [
        rule.replace("proxyinit/egress-", "proxyinit/dns-") for rule in _owner_rules(settings)
    ]
    redirect = f"redirect to :{settings.DNS_PORT}"
    return [
        *owners,
        *(f'meta l4proto {p} {redirect} comment "proxyinit/dns-redirect"' for p in PROTOCOLS),
    ]


def render_table(settings: RedirectSettings) -> str:
    """The whole table, as `nft -f` takes it and (modulo spacing) as `nft list` prints it."""
    only_v4 = "" if settings.ENABLE_IPV6 else "meta nfproto ipv4 "
    ports = sorted(ignored_ports(settings))
    lines = [f"table {TABLE_REF} {{"]
    lines += _set("egress_ignored_ports", "inet_service", [_port(r) for r in ports])
    lines += _address_set(settings, 4)
    lines += _address_set(settings, 6)
    if settings.APP_PORTS:
        lines += _set("app_ports", "inet_service", [_port(r) for r in sorted(settings.APP_PORTS)])
    jump = f"{only_v4}meta l4proto tcp fib daddr type != local jump egress"
    hook = "type nat hook {} priority {}; policy accept;"
    output = [f'{jump} comment "proxyinit/egress-jump"']
    if settings.REDIRECT_DNS:  # first: a TCP query must not take the egress jump
        output[:0] = [
            f'{only_v4}{proto} dport 53 jump dns comment "proxyinit/dns-jump"'
            for proto in PROTOCOLS
        ]
    lines += _chain("output", output, hook.format("output", -100))
    if settings.APP_PORTS:
        jump = f"{only_v4}meta l4proto tcp fib saddr type != local jump ingress"
        lines += _chain(
            "prerouting",
            [f'{jump} comment "proxyinit/ingress-jump"'],
            hook.format("prerouting", "dstnat"),
        )
    egress = [
        *_owner_rules(settings),
        'tcp dport @egress_ignored_ports return comment "proxyinit/egress-ignored-port"',
        'ip daddr @egress_ignored_ipv4 return comment "proxyinit/egress-ignored-ip"',
        'ip6 daddr @egress_ignored_ipv6 return comment "proxyinit/egress-ignored-ip"',
        f'meta l4proto tcp redirect to :{settings.ENVOY_EGRESS_PORT} comment "proxyinit/egress-redirect"',
    ]
    lines += _chain("egress", egress)
    if settings.REDIRECT_DNS:
        lines += _chain("dns", _dns_rules(settings))
    if settings.APP_PORTS:
        redirect = f"tcp dport @app_ports redirect to :{settings.ENVOY_INGRESS_PORT}"
        lines += _chain("ingress", [f'{redirect} comment "proxyinit/ingress-redirect"'])
    lines[-1] = "}"  # no blank line before the table's closing brace
    return "\n".join(lines) + "\n"


def normalize(text: str) -> list[str]:
    """Tokens, so line wrapping and indentation (how nft prints long sets) do not count."""
    return text.replace(",", " ").split()


def replace_script(desired: str, exists: bool) -> str:
    """One `nft -f` transaction: the old table (if any) goes and the new one comes together."""
    return (delete_script() if exists else "") + desired


def delete_script() -> str:
    # Declaring it first makes the delete succeed even if someone removed it meanwhile.
    return f"table {TABLE_REF}\ndelete table {TABLE_REF}\n"
