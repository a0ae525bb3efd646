"""The rule plan as data. Pure values: no I/O, no iptables knowledge beyond the save format.

A Rule's tokens are written exactly as `iptables-save` prints them, so the rendered desired
state and the observed state compare as plain lines: that is what makes re-runs no-ops.

NamedTuples, not dataclasses: this is on the init container's start-up path, and importing
dataclasses (it pulls in inspect) plus generating their methods costs ~15 ms of a ~60 ms run.
"""

from __future__ import annotations

import _socket  # inet_ntop without `socket`'s import cost (~10 ms of start-up)
from types import MappingProxyType

from proxyinit.records import Enum, NamedTuple  # typing's and enum's, minus their imports

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (nor collections)
if TYPE_CHECKING:
    from collections.abc import Mapping

TABLE = "nat"
EGRESS_CHAIN = "APPMESH_EGRESS"
INGRESS_CHAIN = "APPMESH_INGRESS"
DNS_CHAIN = "APPMESH_DNS"  # PROXYINIT_REDIRECT_DNS=1 only (dns_rules.py)
# Exactly these chains are ours; another tool's APPMESH_SOMETHING is not.
OWNED_CHAINS = (EGRESS_CHAIN, INGRESS_CHAIN, DNS_CHAIN)
COMMENT_PREFIX = "proxyinit/"
BUILTIN_CHAINS = ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")


def save_address(network) -> str:
    """A network (netaddr.Network) as iptables-save prints it: IPv6 through inet_ntop, the C library's
    form (`::ffff:198.18.0.1/128`, which Python writes `::ffff:c612:1/128`). A /0 has no text
    at all: iptables omits `-d 0.0.0.0/0` (see rules.address_match)."""
    if network.version == 4:
        return str(network)
    address = _socket.inet_ntop(_socket.AF_INET6, network.packed)
    return f"{address}/{network.prefixlen}"


class Family(str, Enum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"


class Rule(NamedTuple):
    """One rule: match tokens, an ownership tag, a target. Tokens are iptables-save's words."""

    chain: str
    matches: tuple[str, ...]
    tag: str
    target: tuple[str, ...]

    @property
    def comment(self) -> str:
        return f"{COMMENT_PREFIX}{self.tag}"

    def spec(self) -> str:
        """The rule without `-A CHAIN`, in iptables-save's words and order."""
        words = [*self.matches, "-m", "comment", "--comment", f'"{self.comment}"', *self.target]
        return " ".join(words)

    def line(self) -> str:
        return f"-A {self.chain} {self.spec()}"


class Chain(NamedTuple):
    name: str
    rules: tuple[Rule, ...]

    def lines(self) -> tuple[str, ...]:
        return tuple(rule.line() for rule in self.rules)


class Desired(NamedTuple):
    """What one family's nat table should hold of ours: owned chains and the jumps into them."""

    family: Family
    chains: tuple[Chain, ...] = ()
    jumps: tuple[Rule, ...] = ()


class Observed(NamedTuple):
    """What one family's nat table holds of ours now, parsed from iptables-save."""

    family: Family
    chains: Mapping[str, tuple[str, ...]] = MappingProxyType({})  # owned chain -> rule lines
    jumps: tuple[
        str, ...
    ] = ()  # lines in built-in chains that are ours (tag, or target an owned chain)
    foreign_refs: tuple[str, ...] = ()  # rules in other user chains that jump to an owned chain

    @property
    def empty(self) -> bool:
        return not self.chains and not self.jumps


class OpKind(str, Enum):
    # The order of this enum matters: it is the order ops are rendered in one restore
    # transaction. Chains are declared (flushed) first, stale jumps deleted before the chains
    # they target are removed, chains created (-N: fails if it exists) after that, and new
    # rules appended last.
    DECLARE = "declare"
    DELETE_RULE = "delete-rule"
    DELETE_CHAIN = "delete-chain"
    CREATE = "create"
    APPEND = "append"


class Op(NamedTuple):
    kind: OpKind
    chain: str
    spec: str = ""  # rule spec for DELETE_RULE / APPEND


class FamilyPlan(NamedTuple):
    """The changes for one family's nat table, committed as one transaction (or none if empty)."""

    family: Family
    ops: tuple[Op, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.ops


class Plan(NamedTuple):
    families: tuple[FamilyPlan, ...]

    @property
    def empty(self) -> bool:
        return all(fp.empty for fp in self.families)
