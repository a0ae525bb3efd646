"""`verify` for DNS capture (PROXYINIT_REDIRECT_DNS=1): port 53 proven with real packets.

A UDP datagram (and a TCP SYN) to port 53 from an ordinary uid must be redirected to the DNS
port, whatever the resolver's address: a routable one, a local one, an ignored one (DNS capture
does not honour APPMESH_EGRESS_IGNORED_IP); from each ignored uid and gid it must not be. The
probe and the destination come from verify.py, which calls this (no import back: no cycle).
"""

from __future__ import annotations

from collections.abc import Callable

from proxyinit.firewall.model import Family
from proxyinit.settings import RedirectSettings

DNS = 53
MAX_OWNERS = 8  # ignored ids probed: each is one more fork and conntrack lookup


def dns_checks(
    settings: RedirectSettings,
    family: Family,
    probe: Callable,  # verify._probe(path, family, dst, port, uid, gid, expected, udp=...)
    target: str | None,  # a routable, non-local destination, or None
    uid: int,
    gid: int,
) -> list:
    s, port = settings, settings.DNS_PORT
    version = 4 if family is Family.IPV4 else 6
    local = "127.0.0.1" if version == 4 else "::1"
    ignored = [n for n in s.EGRESS_IGNORED_IP if n.version == version and n.prefixlen]
    resolvers = [("dns", target)] if target else []
    resolvers += [("dns-local", local)]
    resolvers += [("dns-ignored-ip", ignored[0].address)] if ignored else []
    checks = [probe(path, family, dst, DNS, uid, gid, port, udp=True) for path, dst in resolvers]
    dst = target or local
    checks.append(probe("dns-tcp", family, dst, DNS, uid, gid, port))
    for owner in s.IGNORE_UIDS[:MAX_OWNERS]:
        checks.append(probe("dns-uid", family, dst, DNS, owner, gid, None, udp=True))
    for owner in s.IGNORE_GIDS[:MAX_OWNERS]:
        checks.append(probe("dns-gid", family, dst, DNS, uid, owner, None, udp=True))
    return checks
