"""`iptables-restore --noflush --wait` (legacy or nft variant): one process, one commit per family."""

from __future__ import annotations

import shutil
import subprocess

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.model import Family, FamilyPlan
from proxyinit.firewall.render import render_family

WAIT_SECONDS = "10"  # --wait: queue behind another writer holding the xtables lock, bounded


def tool(variant: str, family: Family, verb: str) -> str:
    """e.g. ("nft", IPV6, "restore") -> ip6tables-nft-restore; must be on PATH."""
    prefix = "iptables" if family is Family.IPV4 else "ip6tables"
    name = f"{prefix}-{variant}-{verb}"
    path = shutil.which(name)
    if path is None:
        raise RuntimeFailure(f"{name} not found on PATH (install the iptables package)")
    return path


def run(argv: list[str], stdin: str | None = None) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise RuntimeFailure(f"{' '.join(argv)} failed (exit {proc.returncode}): {detail}")
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

    def commit(self, plan: FamilyPlan) -> None:
        text = render_family(plan)
        if text:
            run([tool(self.variant, plan.family, "restore"), "--noflush", "--wait", WAIT_SECONDS], stdin=text)

    def has_rules(self, family: Family) -> bool:
        """Any rule or user chain in any table of this variant (no table is created by asking)."""
        from proxyinit.firewall.state import has_rules

        return has_rules(self.observe(family))
