"""python-iptables (libiptc): in-process, legacy tables, autocommit off, one commit per family.

Traps handled here, all measured on this project's machines:
- IPv4 and IPv6 REDIRECT in one process fail ("can't find target REDIRECT": libxtables keeps
  one family's extension registry per process), so each family commits in a forked child and
  this process never loads python-iptables itself.
- A table handle binds to the namespace it was created in: children are forked after setns.
- libiptc ignores the xtables lock: we take XTABLES_LOCKFILE (default /run/xtables.lock), and a
  concurrent writer that slips in makes commit fail with EAGAIN, so we retry, bounded.
"""

from __future__ import annotations

import contextlib
import os
import time

from proxyinit.errors import ConfigError, RuntimeFailure
from proxyinit.firewall.backends.restore import RestoreBackend
from proxyinit.firewall.lock import exclusive, xtables_lock_path
from proxyinit.firewall.model import (
    BUILTIN_CHAINS,
    OWNED_CHAINS,
    TABLE,
    Family,
    FamilyPlan,
    Op,
    OpKind,
)

COMMIT_ATTEMPTS = 5
MAX_RULES = 10_000  # ~4 s of preparation; the lock is then held ~0.1 s (bench/apply.py)


def build_rule(iptc, family: Family, spec: str):
    """Turn iptables-save words (our Rule spec) into a python-iptables rule object."""
    rule = iptc.Rule() if family is Family.IPV4 else iptc.Rule6()
    # Our specs never hold a space inside a word (comment tags are slugs), so a plain split
    # plus unquoting is exact, and ~30x cheaper than shlex for a thousand rules.
    words = [word.strip('"') for word in spec.split()]
    current, negate, i = None, False, 0
    while i < len(words):
        word = words[i]
        bang = "!" if negate else ""
        if word == "!":
            negate = True
        elif word == "-p":
            rule.protocol, negate, i = bang + words[i + 1], False, i + 1
        elif word == "-d":
            rule.dst, negate, i = bang + words[i + 1], False, i + 1
        elif word == "-m":
            current, i = rule.create_match(words[i + 1]), i + 1
        elif word == "-j":
            current, i = rule.create_target(words[i + 1]), i + 1
        elif word.startswith("--"):
            current.parse(word[2:], bang + words[i + 1])
            negate, i = False, i + 1
        else:
            raise RuntimeFailure(f"iptc backend cannot express {word!r} in {spec!r}")
        i += 1
    return rule


def prepare(iptc, family: Family, ops: tuple[Op, ...]) -> dict[int, object]:
    """Rule buffers for the appends, built before the xtables lock is taken: python-iptables
    parses a rule in ~0.4 ms, libiptc appends a ready buffer ~100x faster, and every other
    iptables user waits while we hold the lock. Jumps into our chains are built under the lock:
    resolving them needs the table in which those chains exist. Index in ops -> buffer."""
    prepared: dict[int, object] = {}
    for index, op in enumerate(ops):
        if op.kind is OpKind.APPEND and op.spec.split()[-1] not in OWNED_CHAINS:
            rule = build_rule(iptc, family, op.spec)
            rule.final_check()
            prepared[index] = rule.rule
    return prepared


def apply_ops(iptc, family: Family, ops: tuple[Op, ...], prepared: dict[int, object]) -> None:
    table = iptc.Table(TABLE) if family is Family.IPV4 else iptc.Table6(TABLE)
    table.autocommit = False
    table.refresh()
    # libiptc zeroes the built-in chains' policy counters on commit unless they are set:
    # read them from this very snapshot (under the xtables lock) and set them back.
    policies = [(name, *table.get_policy(name)) for name in BUILTIN_CHAINS if table.is_chain(name)]
    for index, op in enumerate(ops):
        if op.kind is OpKind.DECLARE:
            table.flush_entries(op.chain) if table.is_chain(op.chain) else table.create_chain(
                op.chain
            )
        elif op.kind is OpKind.DELETE_CHAIN:
            table.delete_chain(op.chain)  # refused while a rule jumps to it: planner.py
        elif op.kind is OpKind.CREATE:
            table.create_chain(op.chain)  # refused if it exists: planner.py
        elif index in prepared:
            table.append_entry(op.chain, prepared[index])
        else:
            chain = iptc.Chain(table, op.chain)
            rule = build_rule(iptc, family, op.spec)
            chain.delete_rule(rule) if op.kind is OpKind.DELETE_RULE else chain.append_rule(rule)
    for name, policy, counters in policies:
        table.set_policy(name, policy, counters)
    table.commit()


def commit_with(iptc, plan: FamilyPlan, prepared: dict[int, object], parent: int) -> None:
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            with exclusive(xtables_lock_path()):
                if os.getppid() != parent:
                    raise RuntimeFailure("proxyinit exited: not committing")  # pdeath.py
                apply_ops(iptc, plan.family, plan.ops, prepared)
            return
        except iptc.IPTCError as err:
            if "Resource temporarily unavailable" not in str(err) or attempt == COMMIT_ATTEMPTS:
                raise RuntimeFailure(f"iptc commit ({plan.family.value}): {err}") from None
            time.sleep(0.005 * attempt)


def refuse_large(plans: tuple[FamilyPlan, ...]) -> None:
    """Past MAX_RULES, preparing takes many seconds and the commit holds the host-wide xtables
    lock long enough for other iptables users to time out: refuse before changing anything."""
    for plan in plans:
        if len(plan.ops) > MAX_RULES:
            raise ConfigError(
                f"{plan.family.value} nat: {len(plan.ops)} changes are too many for --backend iptc "
                f"(at most {MAX_RULES}; libiptc needs ~0.4 ms a rule): use --backend legacy or "
                "nft, whose restore commits 100,000 rules in about 2-4 s"
            )


class Child:
    """A forked process that loads python-iptables at once, then commits one family when the
    parent opens its gate ("g"), or exits untouched when told to abort ("x"). Loading happens
    side by side; commits happen strictly in the parent's order."""

    def __init__(self, plan: FamilyPlan) -> None:
        self.family = plan.family
        gate_r, self.gate_w = os.pipe()
        self.result_r, result_w = os.pipe()
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:  # child: never returns
            os.close(self.gate_w)
            os.close(self.result_r)
            self._run(plan, gate_r, result_w, parent)
        os.close(gate_r)
        os.close(result_w)

    @staticmethod
    def _run(plan: FamilyPlan, gate_r: int, result_w: int, parent: int) -> None:
        code = 0
        try:
            from proxyinit.firewall.backends.iptc_loader import load_iptc
            from proxyinit.firewall.backends.pdeath import die_with_parent

            die_with_parent(parent)  # a kill -9 of proxyinit kills us too, even mid-wait
            iptc = load_iptc()
            prepared = prepare(iptc, plan.family, plan.ops)
            if os.read(gate_r, 1) == b"g":  # b"": the parent is gone, commit nothing
                commit_with(iptc, plan, prepared, parent)
        except BaseException as err:
            os.write(result_w, str(err).encode()[:4000])
            code = 1
        os._exit(code)

    def finish(self, go: bool) -> str | None:
        """Open the gate (or abort), wait; the child's error text, or None."""
        with contextlib.suppress(
            BrokenPipeError
        ):  # the child may have died loading python-iptables
            os.write(self.gate_w, b"g" if go else b"x")
        os.close(self.gate_w)
        with os.fdopen(self.result_r, "rb") as pipe:
            message = pipe.read().decode()
        _, status = os.waitpid(self.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            return message or f"iptc child for {self.family.value} failed"
        return None


class IptcBackend:
    name = "iptc"

    def __init__(self, observed: dict[Family, str] | None = None) -> None:
        # Reading uses iptables-legacy-save: the same tables libiptc writes, same text format.
        self._reader = RestoreBackend("legacy", observed)

    def observe(self, family: Family) -> str:
        return self._reader.observe(family)

    def commit(self, plans: tuple[FamilyPlan, ...]) -> None:
        """One child (one libiptc commit) per family, committing in the given order; the first
        failure aborts the families after it, untouched."""
        refuse_large(plans)
        children = [Child(plan) for plan in plans if not plan.empty]
        error = None
        for child in children:
            if error is None:
                error = child.finish(go=True)
            else:
                child.finish(go=False)  # reaped without committing
        if error:
            raise RuntimeFailure(error)
