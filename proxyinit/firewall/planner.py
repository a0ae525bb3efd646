"""Desired + Observed -> the smallest set of ops that converges one family. Pure.

Invariants: only owned chains are declared, flushed or deleted; in built-in chains we only ever
append or delete our own jumps, so foreign rules keep their place. A chain whose rules already
match is left alone (its counters survive), so an init-container restart commits nothing.

The plan is also a compare-and-swap on what it was made from, so it stays correct when another
writer (with another lock, or none) commits between our observe and our commit: the kernel
refuses the whole transaction instead of letting us stack a second set of rules.
- a chain we did not observe is created with `-N`, which fails if it exists by then;
- a jump is appended only together with `-X` + `-N` of the chain it targets (when that chain
  exists), and `-X` fails while any rule still jumps to it: a jump someone added meanwhile;
- a jump we delete is deleted with `-D`, which fails if it is gone already.
The caller re-observes and re-plans when a commit is refused (see converge.apply_converged).
"""

from __future__ import annotations

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.model import Desired, FamilyPlan, Observed, Op, OpKind


def plan_family(desired: Desired, observed: Observed) -> FamilyPlan:
    jump_ops = _jump_ops(desired, observed)
    recreate = {op.spec.split()[-1] for op in jump_ops if op.kind is OpKind.APPEND}
    ops = [*_chain_ops(desired, observed, recreate), *jump_ops]
    order = list(OpKind)
    return FamilyPlan(desired.family, tuple(sorted(ops, key=lambda op: order.index(op.kind))))


def _chain_ops(desired: Desired, observed: Observed, recreate: set[str]) -> list[Op]:
    """`recreate`: chains a new jump will target; they must be unreferenced at commit."""
    ops: list[Op] = []
    wanted = {chain.name for chain in desired.chains}
    for chain in desired.chains:
        exists = chain.name in observed.chains
        if exists and chain.name in recreate and not _foreign_users(chain.name, observed):
            # Flush, delete (fails if some rule still jumps here), create again: see above.
            # (Another tool's rule jumping here makes -X impossible: then no guard, as before.)
            ops += [Op(OpKind.DECLARE, chain.name), Op(OpKind.DELETE_CHAIN, chain.name)]
            ops.append(Op(OpKind.CREATE, chain.name))
        elif not exists:
            ops.append(Op(OpKind.CREATE, chain.name))
        elif observed.chains[chain.name] == chain.lines():
            continue
        else:
            # Declaring an existing user chain in a --noflush restore flushes it (legacy and
            # nft): the chain is replaced wholesale inside the same transaction.
            ops.append(Op(OpKind.DECLARE, chain.name))
        ops.extend(Op(OpKind.APPEND, chain.name, rule.spec()) for rule in chain.rules)
    for name in sorted(set(observed.chains) - wanted):
        refuse_if_referenced(name, observed)
        ops.append(Op(OpKind.DECLARE, name))  # -X needs an empty chain
        ops.append(Op(OpKind.DELETE_CHAIN, name))
    return ops


def _foreign_users(chain: str, observed: Observed) -> list[str]:
    return [line for line in observed.foreign_refs if chain in line.split()]


def refuse_if_referenced(chain: str, observed: Observed) -> None:
    """Another tool's chain jumping into ours would make -X fail (and we never edit its rules)."""
    users = _foreign_users(chain, observed)
    if users:
        raise RuntimeFailure(
            f"{observed.family.value} nat chain {chain} must go, but another tool's rule jumps to it: "
            f"{users[0]!r}; remove that rule first"
        )


def _jump_ops(desired: Desired, observed: Observed) -> list[Op]:
    """Keep one copy of each wanted jump where it is; delete extras and strangers; add missing."""
    ops: list[Op] = []
    present: dict[str, int] = {}  # a Counter, without importing collections (~2 ms at start)
    for line in observed.jumps:
        present[line] = present.get(line, 0) + 1
    for jump in desired.jumps:
        line = jump.line()
        if present.get(line):
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
