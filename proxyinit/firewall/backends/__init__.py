"""Backends: the one boundary that touches the kernel (contract: backends/protocol.py).

Each reads with `*-save` and commits a FamilyPlan per family in one transaction. Tests and
dry-runs pass RecordingBackend instead.
"""

from __future__ import annotations

from proxyinit.firewall.model import Family, FamilyPlan

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from proxyinit.firewall.backends.protocol import Backend

NAMES = ("auto", "iptc", "legacy", "nft")  # the choices of --backend


def make_backend(name: str, observed: dict[Family, str] | None = None) -> Backend:
    """Build a concrete backend by name (not `auto`: see backends.select). `observed`: save
    text already read, served by the first observe() of each family."""
    if name == "iptc":
        from proxyinit.firewall.backends.iptc import IptcBackend

        return IptcBackend(observed)
    from proxyinit.firewall.backends.restore import RestoreBackend

    return RestoreBackend(name, observed)


class RecordingBackend:
    """Dry-run / test double: serves canned save text, records what would be committed."""

    name = "recording"

    def __init__(self, saved: dict[Family, str] | None = None) -> None:
        self.saved = saved or {}
        self.committed: list[FamilyPlan] = []

    def observe(self, family: Family) -> str:
        return self.saved.get(family, "")

    def commit(self, plans: tuple[FamilyPlan, ...]) -> None:
        self.committed.extend(plan for plan in plans if not plan.empty)
