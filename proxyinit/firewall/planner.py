"""Desired + Observed -> the smallest set of ops that converges one family. Pure.

Invariants: only owned chains are declared, flushed or deleted; in built-in chains we only ever
append or delete our own jumps, so foreign rules keep their place. A chain whose rules already
match is left alone (its counters survive), so an init-container restart commits nothing.
"""

from __future__ import annotations

from collections import Counter

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.model import Desired, FamilyPlan, Observed, Op, OpKind


def plan_family(desired: Desired, observed: Observed) -> FamilyPlan:
    ops = [*_chain_ops(desired, observed), *_jump_ops(desired, observed)]
    order = list(OpKind)
    return FamilyPlan(desired.family, tuple(sorted(ops, key=lambda op: order.index(op.kind))))


def _chain_ops(desired: Desired, observed: Observed) -> list[Op]:
    ops: list[Op] = []
    wanted = {chain.name for chain in desired.chains}
    for chain in desired.chains:
        if observed.chains.get(chain.name) == chain.lines():
            continue
        # Declaring an existing user chain in a --noflush restore flushes it (legacy and nft):
        # the chain is replaced wholesale inside the same transaction as everything else.
        ops.append(Op(OpKind.DECLARE, chain.name))
        ops.extend(Op(OpKind.APPEND, chain.name, rule.spec()) for rule in chain.rules)
    for name in sorted(set(observed.chains) - wanted):
        refuse_if_referenced(name, observed)
        ops.append(Op(OpKind.DECLARE, name))  # -X needs an empty chain
        ops.append(Op(OpKind.DELETE_CHAIN, name))
    return ops


def refuse_if_referenced(chain: str, observed: Observed) -> None:
    """Another tool's chain jumping into ours would make -X fail (and we never edit its rules)."""
    users = [line for line in observed.foreign_refs if chain in line.split()]
    if users:
        raise RuntimeFailure(
            f"{observed.family.value} nat chain {chain} must go, but another tool's rule jumps to it: "
            f"{users[0]!r}; remove that rule first"
        )


def _jump_ops(desired: Desired, observed: Observed) -> list[Op]:
    """Keep one copy of each wanted jump where it is; delete extras and strangers; add missing."""
    ops: list[Op] = []
    present = Counter(observed.jumps)
    for jump in desired.jumps:
        line = jump.line()
        if present[line]:
            present[line] -= 1
        else:
            ops.append(Op(OpKind.APPEND, jump.chain, jump.spec()))
    for line, count in present.items():
        chain, spec = _split_line(line)
        ops.extend(Op(OpKind.DELETE_RULE, chain, spec) for _ in range(count))
    return ops


def _split_line(line: str) -> tuple[str, str]:
    _, chain, spec = line.split(" ", 2)
    return chain, spec


def plan_clean(observed: Observed) -> FamilyPlan:
    """Everything of ours goes: jumps first, then the chains they pointed to."""
    return plan_family(Desired(observed.family), observed)
