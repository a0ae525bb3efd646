"""A redirector backend that touches no kernel: canned save text in, would-be commits recorded."""

from __future__ import annotations

from proxyinit.firewall.model import Family, FamilyPlan


class RecordingBackend:
    """Serves canned `*-save` text per family; records the family plans it was asked to commit."""

    name = "recording"

    def __init__(self, saved: dict[Family, str] | None = None) -> None:
        self.saved = saved or {}
        self.committed: list[FamilyPlan] = []

    def observe(self, family: Family) -> str:
        return self.saved.get(family, "")

    def commit(self, plans: tuple[FamilyPlan, ...]) -> None:
        self.committed.extend(plan for plan in plans if not plan.empty)
