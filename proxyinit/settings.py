"""APPMESH_* environment -> typed, validated redirector settings.

This is the contract App Mesh users already have in their task definitions and pod specs
(`aws-appmesh-proxy-route-manager`). Every check happens here, at the edge, and names the
variable and the value; the planner never sees (or silently drops) bad input.

Why stdlib and not pydantic-settings: this runs in an init container on every task start, and
importing pydantic-settings costs ~140 ms here (pydantic core + asyncio), more than the whole
120 ms budget for reading the env and committing the rules (see bench/apply.py). The control
plane, which starts once, uses pydantic.
"""

from __future__ import annotations

import itertools
import sys

from proxyinit.contract import DNS_PORT, echo, log, parse_int, parse_port
from proxyinit.environ import get as getenv
from proxyinit.errors import ConfigError
from proxyinit.netaddr import Network, host_ipv4, network_of, parse_address
from proxyinit.records import NamedTuple  # typing's, minus the import of typing

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (nor collections)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

ENV_PREFIX = "APPMESH_"
OWN_PREFIX = "PROXYINIT_"  # our additions to App Mesh's contract (e.g. DNS capture)
# The original route manager always appended 22 so an operator could still SSH out of a task
# whose rules were wrong; users rely on it, so we keep it (documented in README).
ALWAYS_IGNORED_PORT = 22
MAX_ID = 2**32 - 2  # (uid_t)-1 is "no id"; anything above is not a valid owner match.


class PortRange(NamedTuple):  # a NamedTuple, not a dataclass: see firewall/model.py
    """A destination port or an inclusive range, as iptables multiport writes it (`a:b`)."""

    first: int
    last: int

    @property
    def multiport_slots(self) -> int:
        # multiport counts a range as two of its 15 entries (xt_multiport.h, XT_MULTI_PORTS).
        return 1 if self.first == self.last else 2

    def overlaps(self, other: PortRange) -> bool:
        return self.first <= other.last and other.first <= self.last

    def contains(self, port: int) -> bool:
        return self.first <= port <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}:{self.last}"


def _blank_to_none(value: object) -> object:
    # ECS and Kubernetes manifests often carry `Value: ""` for "not set".
    if isinstance(value, str) and not value.strip():
        return None
    return value.strip() if isinstance(value, str) else value


def parse_port_range(text: str) -> PortRange:
    if text.isdigit() and text.isascii() and text[0] != "0" and len(text) <= 5:
        # A plain port, the common case (1,000 ignored ports: ~0.7 ms less); parse_port's
        # checks below, in the order a valid one passes them; anything else takes that path.
        port = int(text)
        if port <= 65535:
            return PortRange(port, port)
    token = text.strip()
    for sep in (":", "-"):
        if sep in token.lstrip("-"):
            first, _, last = token.partition(sep)
            if not first.strip() or not last.strip():
                raise ValueError(f"port range {echo(token)} is malformed (expected FIRST{sep}LAST)")
            low, high = parse_port(first), parse_port(last)
            if low >= high:
                raise ValueError(
                    f"port range {echo(token)} is malformed (first must be below last)"
                )
            return PortRange(low, high)
    port = parse_port(token)
    return PortRange(port, port)


def split_list(raw: str) -> list[str]:
    """Comma list; surrounding whitespace tolerated, empty items are an error (`9080,,9081`)."""
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise ValueError(f"empty item in list {echo(raw)}")
    return items


class Noted(NamedTuple):
    """A parsed value that was accepted in canonical form, and what was canonicalised (each
    note becomes a warning naming the variable): the migration-safe inputs in README."""

    value: object
    notes: tuple[str, ...]


def _once(values: list, items: list[str]) -> tuple[dict, list[str]]:
    """Each distinct value with the item that first gave it (first-seen order), and a note per
    exact repeat."""
    seen: dict = {}
    notes = []
    for value, item in zip(values, items, strict=True):
        known = len(seen)
        seen.setdefault(value, item)  # one hash of the value, not two
        if len(seen) == known:
            notes.append(f"duplicate {item} applied once")  # parsed: a short, plain token
    return seen, notes


def parse_port_list(raw: str) -> Noted:
    """Ports and ranges in the order given. An exact repeat (443,8443,443) has one meaning and
    is applied once; a partial overlap (9000:9100,9080) is an error: which list was meant?
    O(n log n): sorted neighbours are the only pairs that can overlap first; distinct single
    ports (1,000 ignored ports) cannot overlap at all."""
    items = split_list(raw)
    ranges, notes = _once([parse_port_range(item) for item in items], items)
    if any(r.first != r.last for r in ranges):
        for (low, _), (high, item) in itertools.pairwise(sorted(ranges.items())):
            if low.overlaps(high):
                raise ValueError(f"duplicate port {echo(item)} (overlaps {low})")
    return Noted(tuple(ranges), tuple(notes))


def parse_network(text: str) -> Network:
    """An address or a CIDR, as the network iptables-save will print back: no scope ids
    (`fe80::1%eth0`: ip6tables refuses them), no netmask or zero-padded prefix
    (`10.0.0.0/255.0.0.0`, `10.0.0.0/08`: two ways to read them); host bits are dropped
    (`10.1.2.3/8` is 10.0.0.0/8, the route manager's meaning), parse_network_list says so."""
    return _parse_network(text)[0]


def _parse_network(text: str) -> tuple[Network, bool]:
    """(the network, whether host bits were dropped)."""
    host = host_ipv4(text)
    if host is not None:
        return host, False
    address, slash, prefix = text.partition("/")
    if "%" in address:
        raise ValueError(f"{echo(text)} has a scope id, which ip6tables cannot match")
    length = None
    if slash:
        try:
            length = parse_int(prefix, "prefix length", 0, 128)
        except ValueError:
            raise ValueError(
                f"CIDR {echo(text)} is not canonical (the prefix must be a plain length, e.g. /8)"
            ) from None
    parsed = parse_address(address)
    found = None if parsed is None else network_of(*parsed, length)
    if found is None:
        raise ValueError(f"{echo(text)} is not an IPv4/IPv6 address or CIDR")
    return found, found.packed != parsed[1]


def parse_network_list(raw: str) -> Noted:
    """Host bits (10.1.2.3/8) have one meaning, the route manager's: the network (10.0.0.0/8),
    applied with a note; so has an exact repeat, applied once."""
    networks: dict[Network, str] = {}
    notes = []
    for item in split_list(raw):
        found, host_bits = _parse_network(item)
        if host_bits:
            notes.append(f"{echo(item)} has host bits set: applied as {found}")
        known = len(networks)
        first = networks.setdefault(found, item)  # one hash of the network, not two
        if len(networks) == known:
            notes.append(f"duplicate {echo(item)} (same as {echo(first)}) applied once")
    return Noted(tuple(networks), tuple(notes))


def parse_switch(raw: object) -> bool:
    if raw in (None, "0"):
        return False
    if raw == "1":
        return True
    raise ValueError(f"{echo(raw)} is not 0 or 1")


def parse_id(text: str) -> int:
    return parse_int(text, "id", 0, MAX_ID)


def parse_id_list(raw: str) -> Noted:
    """One id, or a comma list (agents and init containers that must reach the network before
    Envoy is up); an exact repeat is applied once."""
    items = split_list(raw)
    ids, notes = _once([parse_id(item) for item in items], items)
    return Noted(tuple(ids), tuple(notes))


class RedirectSettings(NamedTuple):
    """The APPMESH_* contract, typed. Field names are the variable names without the prefix."""

    START_ENABLED: bool = False
    IGNORE_UID: int | None = None  # the first of IGNORE_UIDS, for code that knows one id
    IGNORE_GID: int | None = None
    ENVOY_EGRESS_PORT: int | None = None
    ENVOY_INGRESS_PORT: int | None = None
    APP_PORTS: tuple[PortRange, ...] = ()
    EGRESS_IGNORED_IP: tuple[Network, ...] = ()
    EGRESS_IGNORED_PORTS: tuple[PortRange, ...] = ()
    ENABLE_IPV6: bool = False
    IGNORE_UIDS: tuple[int, ...] = ()  # every id of APPMESH_IGNORE_UID's comma list
    IGNORE_GIDS: tuple[int, ...] = ()
    REDIRECT_DNS: bool = False  # PROXYINIT_REDIRECT_DNS: port 53 -> Envoy's DNS listener
    DNS_PORT: int = DNS_PORT  # PROXYINIT_DNS_PORT


# Variable (without prefix) -> parser of its non-blank text. Parsers raise ValueError(why).
PARSERS: dict[str, Callable[[str], object]] = {
    "START_ENABLED": parse_switch,
    "IGNORE_UID": parse_id_list,
    "IGNORE_GID": parse_id_list,
    "ENVOY_EGRESS_PORT": parse_port,
    "ENVOY_INGRESS_PORT": parse_port,
    "APP_PORTS": parse_port_list,
    "EGRESS_IGNORED_IP": parse_network_list,
    "EGRESS_IGNORED_PORTS": parse_port_list,
    "ENABLE_IPV6": parse_switch,
}
# PROXYINIT_* variables: proxyinit's own, not App Mesh's (same parsing rules).
OWN_PARSERS: dict[str, Callable[[str], object]] = {
    "REDIRECT_DNS": parse_switch,
    "DNS_PORT": parse_port,
}


def check_required(s: RedirectSettings) -> None:
    """What applying needs. Raises ValueError naming the variables."""
    if s.IGNORE_UID is None and s.IGNORE_GID is None:
        raise ValueError(
            "APPMESH_IGNORE_UID or APPMESH_IGNORE_GID is required (Envoy's uid, usually 1337)"
        )
    if s.ENVOY_EGRESS_PORT is None:
        raise ValueError(
            "APPMESH_ENVOY_EGRESS_PORT is required (Envoy's egress listener, usually 15001)"
        )


def check_cross_field(s: RedirectSettings) -> None:
    """Rules that involve two variables. Raises ValueError("APPMESH_X=...: why")."""
    if s.APP_PORTS and s.ENVOY_INGRESS_PORT is None:
        raise ValueError(
            f"APPMESH_ENVOY_INGRESS_PORT is required when APPMESH_APP_PORTS is set ({_ports_text(s.APP_PORTS)})"
        )
    if s.ENVOY_INGRESS_PORT is not None and s.ENVOY_INGRESS_PORT == s.ENVOY_EGRESS_PORT:
        raise ValueError(
            f"APPMESH_ENVOY_INGRESS_PORT={s.ENVOY_INGRESS_PORT} equals APPMESH_ENVOY_EGRESS_PORT"
        )
    envoy_ports = {p for p in (s.ENVOY_EGRESS_PORT, s.ENVOY_INGRESS_PORT) if p is not None}
    for name, ranges in (
        ("APP_PORTS", s.APP_PORTS),
        ("EGRESS_IGNORED_PORTS", s.EGRESS_IGNORED_PORTS),
    ):
        for port in sorted(envoy_ports):
            hit = next((r for r in ranges if r.contains(port)), None)
            if hit is not None:
                raise ValueError(
                    f"APPMESH_{name}={_ports_text(ranges)}: {hit} includes Envoy's port {port}"
                )
    check_dns_port(s)


def check_dns_port(s: RedirectSettings) -> None:
    """Envoy's DNS listener is UDP, but redirected TCP/53 lands on the same port (README "DNS
    capture"): it must be none of Envoy's TCP listeners."""
    if not s.REDIRECT_DNS:
        return
    for name, port in (("EGRESS", s.ENVOY_EGRESS_PORT), ("INGRESS", s.ENVOY_INGRESS_PORT)):
        if port == s.DNS_PORT:
            raise ValueError(
                f"{OWN_PREFIX}DNS_PORT={s.DNS_PORT} equals APPMESH_ENVOY_{name}_PORT={port}"
            )


def _ports_text(ranges: tuple[PortRange, ...]) -> str:
    return ",".join(str(r) for r in ranges)


def _variables():
    for name, parse in PARSERS.items():
        yield ENV_PREFIX, name, parse
    for name, parse in OWN_PARSERS.items():
        yield OWN_PREFIX, name, parse


def load_settings(env: Mapping[str, str] | None = None, require: bool = True) -> RedirectSettings:
    """Read and validate APPMESH_* (os.environ by default). ConfigError lists every variable
    that does not parse, else the first rule between variables that fails.

    require=False (the entrypoint with APPMESH_START_ENABLED=0): what is set is still checked,
    but nothing is required, since nothing will be applied."""
    get = getenv if env is None else env.get  # os.environ.get, without importing os
    values: dict[str, object] = {}
    problems: list[str] = []
    notes: list[str] = []
    for prefix, name, parse in _variables():
        raw = get(prefix + name)
        text = _blank_to_none(raw)
        if text is None:
            continue
        try:
            value = parse(text)
        except ValueError as err:
            problems.append(f"{prefix}{name}={echo(raw)}: {err}")
            continue
        if isinstance(value, Noted):
            notes += [f"{prefix}{name}={echo(raw)}: {note}" for note in value.notes]
            value = value.value
        values[name] = value
    if problems:
        raise ConfigError("; ".join(problems))
    for name in ("IGNORE_UID", "IGNORE_GID"):
        if name in values:
            values[name + "S"] = values[name]
            values[name] = values[name][0]
    settings = RedirectSettings(**values)
    try:
        if require or settings.START_ENABLED:
            check_required(settings)
        check_cross_field(settings)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    for note in notes:  # only once the whole input is known to be valid
        log(note, level="warning", event="canonicalised")
    warn_ipv6_while_disabled(settings)
    warn_any_address(settings)
    return settings


def warn_any_address(settings: RedirectSettings) -> None:
    """0.0.0.0/0 (or ::/0) is valid and means it: every destination is ignored, so that family's
    egress is never redirected. Deliberate or not, it must not pass silently."""
    for network in settings.EGRESS_IGNORED_IP:
        if network.prefixlen == 0 and (network.version == 4 or settings.ENABLE_IPV6):
            log(
                f"APPMESH_EGRESS_IGNORED_IP has {network}: no IPv{network.version} "
                "egress is redirected (egress capture is off for it; inbound redirection still applies)",
                file=sys.stderr,
            )


def warn_ipv6_while_disabled(settings: RedirectSettings) -> None:
    """The original accepted IPv6 entries with IPv6 off; we accept them too, but never silently."""
    if settings.ENABLE_IPV6:
        return
    v6 = [str(n) for n in settings.EGRESS_IGNORED_IP if n.version == 6]
    if v6:
        log(
            f"APPMESH_EGRESS_IGNORED_IP has IPv6 entries {','.join(v6)} "
            "but APPMESH_ENABLE_IPV6 is not 1: they have no effect",
            level="warning",
        )
