"""DNS capture (PROXYINIT_REDIRECT_DNS=1): port 53 -> Envoy's DNS listener. Pure, like rules.py.

The chain APPMESH_DNS is entered from OUTPUT for UDP and TCP port 53 whatever the destination
(a pod's resolver is often local: systemd-resolved's 127.0.0.53, a node-local cache), skips the
ignored owners (Envoy forwards what it cannot answer to the real resolver, as uid 1337) and
redirects the rest to PROXYINIT_DNS_PORT. It sits beside the egress capture, not inside it, so
APPMESH_EGRESS_IGNORED_IP and _PORTS do not exempt DNS: a resolver listed there (the VPC's .2,
169.254.169.253) is still captured, as istio does. TCP/53 that reaches APPMESH_EGRESS first (its
jump may come first in OUTPUT, e.g. after an upgrade appended ours) returns from it
(`egress-dns`), so whichever jump comes first the query ends up here.
"""

from __future__ import annotations

from proxyinit.firewall.model import DNS_CHAIN, EGRESS_CHAIN, Chain, Rule
from proxyinit.settings import RedirectSettings

DNS = "53"
PROTOCOLS = ("udp", "tcp")


def _port_53(protocol: str) -> tuple[str, ...]:
    return ("-p", protocol, "-m", protocol, "--dport", DNS)  # as iptables-save prints it


def dns_chain(settings: RedirectSettings) -> Chain:
    rules: list[Rule] = []
    for kind, ids in (("uid", settings.IGNORE_UIDS), ("gid", settings.IGNORE_GIDS)):
        for owner in ids:
            rules.append(
                Rule(
                    DNS_CHAIN,
                    ("-m", "owner", f"--{kind}-owner", str(owner)),
                    f"dns-{kind}",
                    ("-j", "RETURN"),
                )
            )
    redirect = ("-j", "REDIRECT", "--to-ports", str(settings.DNS_PORT))
    rules += [Rule(DNS_CHAIN, ("-p", protocol), "dns-redirect", redirect) for protocol in PROTOCOLS]
    return Chain(DNS_CHAIN, tuple(rules))


def dns_jumps() -> list[Rule]:
    return [
        Rule("OUTPUT", _port_53(protocol), "dns-jump", ("-j", DNS_CHAIN)) for protocol in PROTOCOLS
    ]


def egress_dns_return() -> Rule:
    return Rule(EGRESS_CHAIN, _port_53("tcp"), "egress-dns", ("-j", "RETURN"))
