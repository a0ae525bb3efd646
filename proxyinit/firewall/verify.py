"""`proxyinit verify`: the rules proven with real packets, not by comparing rule text.

For each family in use, real TCP SYNs are sent the way traffic would really come (verify_probe)
and the conntrack entry each one created says where the kernel sent it:
- egress: an ordinary uid's connection to a routable, non-ignored address must be redirected
  to the egress port; from the ignored uid or gid, to each ignored port and address, and to a
  local address it must not be;
- ingress: a connection from outside to each app port must be redirected to the ingress port;
- dns (PROXYINIT_REDIRECT_DNS=1): port 53, UDP and TCP, see verify_dns.
Nothing is bound in the namespace, so it runs as well before Envoy starts as next to it.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

from proxyinit.firewall.model import Family
from proxyinit.firewall.rules import families, ignored_ports
from proxyinit.firewall.verify_dns import dns_checks
from proxyinit.firewall.verify_probe import (
    WAIT,
    Unavailable,
    inbound,
    listening,
    outbound,
    tracking,
)
from proxyinit.settings import RedirectSettings

MAX_PROBES = 32  # per list of ignored ports/addresses and of app ports: a bound on the run time
PORT_CANDIDATES = (80, 443, 8080, 1234, 40000)
V4_DOCUMENTATION, V6_DOCUMENTATION = "192.0.2.1", "2001:db8::1"  # behind a default route


class Check(NamedTuple):
    path: str  # egress, egress-uid, egress-gid, egress-ignored-port, egress-ignored-ip, ...
    family: str
    what: str  # "connection to 198.18.0.9:80 from uid 65534"
    expected: int | None  # the port it must be redirected to; None: it must bypass
    got: int | None
    skipped: str = ""  # why it could not be tested (no route): not a failure

    @property
    def ok(self) -> bool:
        return bool(self.skipped) or self.got == self.expected

    def line(self) -> str:
        if self.skipped:
            return f"{self.path}: {self.what}: not tested ({self.skipped})"
        if self.ok:
            state = f"redirected to {self.got}" if self.got else "not redirected, as required"
            return f"{self.path}: {self.what}: {state}"
        if self.expected is None:
            return f"{self.path}: {self.what} was redirected to {self.got} (it must bypass)"
        where = f"was redirected to {self.got}, not" if self.got else "was not redirected to"
        return f"{self.path}: {self.what} {where} {self.expected}"

    def as_json(self) -> dict:
        return {**self._asdict(), "ok": self.ok}


def _other_id(taken: set[int | None]) -> int:
    # nobody first; past it, counting down finds a free id within len(taken) + 1 steps.
    return next(i for i in range(65534, 0, -1) if i not in taken)


def _as_ipaddress(network):
    """A settings network (netaddr's, the init path's own) as ipaddress's, for its arithmetic."""
    return ipaddress.ip_network(str(network))


def _host(network) -> str:
    """An address inside `network` to aim at (its last host for a subnet)."""
    if network.num_addresses <= 2:
        return str(network.network_address)
    return str(network.network_address + network.num_addresses - 2)


def _routes(family: Family) -> list:
    """The namespace's routed networks, most specific last (from /proc, no `ip` needed)."""
    nets = []
    if family is Family.IPV4:
        with open("/proc/net/route") as handle:
            for line in handle.read().splitlines()[1:]:
                words = line.split()
                dest, mask = (int(words[i], 16).to_bytes(4, "little") for i in (1, 7))
                bits = bin(int.from_bytes(mask, "big")).count("1")
                nets.append(ipaddress.ip_network((ipaddress.IPv4Address(dest), bits), False))
    else:
        with open("/proc/net/ipv6_route") as handle:
            for line in handle.read().splitlines():
                words = line.split()
                if words[-1] == "lo":
                    continue
                dest = ipaddress.IPv6Address(bytes.fromhex(words[0]))
                nets.append(ipaddress.ip_network((dest, int(words[1], 16)), False))
    return sorted(nets, key=lambda n: n.prefixlen)


def egress_target(family: Family, settings: RedirectSettings) -> str | None:
    """A routable destination that is not ignored and not local, or None."""
    version = 4 if family is Family.IPV4 else 6
    ignored = [_as_ipaddress(n) for n in settings.EGRESS_IGNORED_IP if n.version == version]
    for network in _routes(family):
        if network.is_multicast or network.is_link_local or network.is_loopback:
            continue
        if network.prefixlen == 0:
            host = V4_DOCUMENTATION if family is Family.IPV4 else V6_DOCUMENTATION
        elif network.num_addresses > 2:
            host = _host(network)
        else:
            continue
        if not any(ipaddress.ip_address(host) in n for n in ignored):
            return host
    return None


def egress_port(settings: RedirectSettings) -> int | None:
    """A destination port that is neither ignored nor an app port (None: every port is)."""
    skip = (*ignored_ports(settings), *settings.APP_PORTS)
    candidates = (*PORT_CANDIDATES, *range(1, 65536))
    return next((p for p in candidates if not any(r.contains(p) for r in skip)), None)


def _probe(path, family, dst, port, uid, gid, expected, wait=WAIT, udp=False) -> Check:
    kind = "UDP datagram" if udp else "connection"
    what = f"{kind} to {_fmt(dst, port)} from uid {uid} gid {gid}"
    sent, entry = outbound(dst, port, uid, gid, wait, udp)
    if sent != "sent":
        return Check(path, family.value, what, expected, None, skipped=sent)
    return Check(path, family.value, what, expected, entry.redirected_to if entry else None)


def _fmt(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def egress_checks(settings: RedirectSettings, family: Family, wait: float) -> list[Check]:
    s = settings

    def probe(*args, udp: bool = False) -> Check:
        return _probe(*args, wait=wait, udp=udp)

    uid = _other_id(set(s.IGNORE_UIDS))
    gid = _other_id(set(s.IGNORE_GIDS))
    port, egress = egress_port(s), s.ENVOY_EGRESS_PORT
    target = egress_target(family, s)
    dns = dns_checks(s, family, probe, target, uid, gid) if s.REDIRECT_DNS else []
    if target is None or port is None:
        what = "connection from an ordinary uid"
        why = "no routable, non-ignored destination" if port else "every port is ignored"
        return [Check("egress", family.value, what, egress, None, why), *dns]
    checks = [probe("egress", family, target, port, uid, gid, egress)]
    for ignored_uid in s.IGNORE_UIDS[:MAX_PROBES]:
        checks.append(probe("egress-uid", family, target, port, ignored_uid, gid, None))
    for ignored_gid in s.IGNORE_GIDS[:MAX_PROBES]:
        checks.append(probe("egress-gid", family, target, port, uid, ignored_gid, None))
    for r in ignored_ports(s)[:MAX_PROBES]:
        checks.append(probe("egress-ignored-port", family, target, r.first, uid, gid, None))
    version = 4 if family is Family.IPV4 else 6
    networks = [n for n in s.EGRESS_IGNORED_IP if n.version == version][:MAX_PROBES]
    for network in networks:
        dst = target if network.prefixlen == 0 else _host(_as_ipaddress(network))
        checks.append(probe("egress-ignored-ip", family, dst, port, uid, gid, None))
    local = "127.0.0.1" if family is Family.IPV4 else "::1"
    checks.append(probe("egress-local", family, local, port, uid, gid, None))
    return checks + dns


def ingress_checks(settings: RedirectSettings, wait: float) -> list[Check]:
    if not settings.APP_PORTS:
        return []
    ports = [r.first for r in settings.APP_PORTS[:MAX_PROBES]]
    checks = []
    try:
        probed = inbound(ports, v6=settings.ENABLE_IPV6, wait=wait * 4)
    except Unavailable as why:
        what = f"connection from outside to app port {ports[0]}"
        return [Check("ingress", "ipv4", what, settings.ENVOY_INGRESS_PORT, None, str(why))]
    for dst, port, entry in probed:
        family = "ipv6" if ":" in dst else "ipv4"
        what = f"connection from outside to {_fmt(dst, port)}"
        got = entry.redirected_to if entry else None
        checks.append(Check("ingress", family, what, settings.ENVOY_INGRESS_PORT, got))
    return checks


def verify(settings: RedirectSettings) -> list[Check]:
    checks: list[Check] = []
    ports = [p for p in (settings.ENVOY_EGRESS_PORT, settings.ENVOY_INGRESS_PORT) if p]
    ports += [settings.DNS_PORT] if settings.REDIRECT_DNS else []  # its TCP probe
    # The probed app ports too: an inbound SYN that is not redirected then leaves an entry
    # saying so at once, instead of a reset and a wait for an entry that never comes.
    ports += [r.first for r in settings.APP_PORTS[:MAX_PROBES]]
    with listening(ports, v6=settings.ENABLE_IPV6):
        wait = WAIT if tracking() else 0.0
        for family in families(settings):
            checks += egress_checks(settings, family, wait)
        return checks + ingress_checks(settings, wait)
