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


import os
import time

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.backends.restore import RestoreBackend
from proxyinit.firewall.lock import exclusive, xtables_lock_path
from proxyinit.firewall.model import TABLE, Family, FamilyPlan, Op, OpKind

COMMIT_ATTEMPTS = 5


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


def apply_ops(iptc, family: Family, ops: tuple[Op, ...]) -> None:
    table = iptc.Table(TABLE) if family is Family.IPV4 else iptc.Table6(TABLE)
    table.autocommit = False
    table.refresh()
    for op in ops:
        if op.kind is OpKind.DECLARE:
            table.flush_entries(op.chain) if table.is_chain(op.chain) else table.create_chain(op.chain)
        elif op.kind is OpKind.DELETE_CHAIN:
            table.delete_chain(op.chain)
        else:
            chain = iptc.Chain(table, op.chain)
            rule = build_rule(iptc, family, op.spec)
            chain.delete_rule(rule) if op.kind is OpKind.DELETE_RULE else chain.append_rule(rule)
    table.commit()


def commit_in_this_process(plan: FamilyPlan) -> None:
    from proxyinit.firewall.backends.iptc_loader import load_iptc

    iptc = load_iptc()
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            with exclusive(xtables_lock_path()):
                apply_ops(iptc, plan.family, plan.ops)
            return
        except iptc.IPTCError as err:
            if "Resource temporarily unavailable" not in str(err) or attempt == COMMIT_ATTEMPTS:
                raise RuntimeFailure(f"iptc commit ({plan.family.value}): {err}") from None
            time.sleep(0.005 * attempt)


def fork_commit(plan: FamilyPlan) -> tuple[int, int]:
    """Fork a child that commits one family; returns (pid, fd to read its error text from)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        os.close(read_fd)
        code = 0
        try:
            commit_in_this_process(plan)
        except BaseException as err:  # noqa: BLE001 - everything must reach the parent
            os.write(write_fd, str(err).encode()[:4000])
            code = 1
        os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def wait_child(pid: int, read_fd: int, family: Family) -> str | None:
    with os.fdopen(read_fd, "rb") as pipe:
        message = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return message or f"iptc child for {family.value} failed"
    return None


class IptcBackend:
    name = "iptc"

    def __init__(self, observed: dict[Family, str] | None = None) -> None:
        # Reading uses iptables-legacy-save: the same tables libiptc writes, same text format.
        self._reader = RestoreBackend("legacy", observed)

    def observe(self, family: Family) -> str:
        return self._reader.observe(family)

    def commit(self, plans: tuple[FamilyPlan, ...]) -> None:
        """In the given order, one forked child (one libiptc commit) per family; stop at the
        first failure so the families after it stay untouched."""
        for plan in plans:
            if not plan.empty:
                error = wait_child(*fork_commit(plan), plan.family)
                if error:
                    raise RuntimeFailure(error)
