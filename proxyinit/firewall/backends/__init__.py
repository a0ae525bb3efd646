"""The one boundary that touches the kernel. Each backend reads (save) and commits a FamilyPlan.

Contract (a typing.Protocol, so tests can pass a recording stub):
- `observe(family)` returns `iptables-save -t nat` text for that family;
- `commit(plan)` applies one FamilyPlan as one transaction, or raises RuntimeFailure and leaves
  the table as it was. An empty plan is never committed.
"""

from __future__ import annotations

from typing import Protocol

from proxyinit.firewall.model import Family, FamilyPlan

NAMES = ("auto", "iptc", "legacy", "nft")


class Backend(Protocol):
    name: str

    def observe(self, family: Family) -> str: ...

    def commit(self, plan: FamilyPlan) -> None: ...


def make_backend(name: str) -> Backend:
    """Build a concrete backend by name (not `auto`: see backends.select)."""
    if name == "iptc":
        from proxyinit.firewall.backends.iptc import IptcBackend

        return IptcBackend()
    from proxyinit.firewall.backends.restore import RestoreBackend

    return RestoreBackend(name)


class RecordingBackend:
    """Dry-run / test double: serves canned save text, records what would be committed."""

    name = "recording"

    def __init__(self, saved: dict[Family, str] | None = None) -> None:
        self.saved = saved or {}
        self.committed: list[FamilyPlan] = []

    def observe(self, family: Family) -> str:
        return self.saved.get(family, "")

    def commit(self, plan: FamilyPlan) -> None:
        self.committed.append(plan)
