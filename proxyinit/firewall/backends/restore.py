"""`iptables-restore --noflush --wait` (legacy or nft variant): one process, one commit per family.

The families are independent transactions, so their restore processes run side by side.
"""

from __future__ import annotations

import os
import subprocess

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.model import Family, FamilyPlan
from proxyinit.firewall.render import render_family

WAIT_SECONDS = "10"  # --wait: queue behind another writer holding the xtables lock, bounded


def tool(variant: str, family: Family, verb: str) -> str:
    """e.g. ("nft", IPV6, "restore") -> /usr/sbin/ip6tables-nft-restore (shutil.which, minus
    the import cost of shutil)."""
    prefix = "iptables" if family is Family.IPV4 else "ip6tables"
    name = f"{prefix}-{variant}-{verb}"
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep) + ["/usr/sbin", "/sbin"]:
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    raise RuntimeFailure(f"{name} not found on PATH (install the iptables package)")


def _failure(argv: list[str], code: int, stderr: str, stdout: str = "") -> RuntimeFailure:
    detail = (stderr or stdout).strip()
    return RuntimeFailure(f"{' '.join(argv)} failed (exit {code}): {detail}")


def run(argv: list[str], stdin: str | None = None) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise _failure(argv, proc.returncode, proc.stderr, proc.stdout)
    return proc.stdout


class RestoreBackend:
    def __init__(self, variant: str) -> None:
        if variant not in ("legacy", "nft"):
            raise ValueError(variant)
        self.variant = variant
        self.name = variant

    def observe(self, family: Family) -> str:
        # No `-t nat`: asking for a table creates it (and registers its hooks); listing only
        # the tables that exist changes nothing. A missing nat table simply observes as empty.
        return run([tool(self.variant, family, "save")])

    def commit(self, plans: tuple[FamilyPlan, ...]) -> None:
        started = []
        for plan in plans:
            if plan.empty:
                continue
            argv = [tool(self.variant, plan.family, "restore"), "--noflush", "--wait", WAIT_SECONDS]
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            started.append((argv, proc, render_family(plan)))
        errors = []
        for argv, proc, text in started:  # both processes are already starting up
            stdout, stderr = proc.communicate(text)
            if proc.returncode != 0:
                errors.append(str(_failure(argv, proc.returncode, stderr, stdout)))
        if errors:
            raise RuntimeFailure("; ".join(errors))

    def has_rules(self, family: Family) -> bool:
        """Any rule or user chain in any table of this variant (no table is created by asking)."""
        from proxyinit.firewall.state import has_rules

        return has_rules(self.observe(family))
