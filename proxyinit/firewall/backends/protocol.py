"""The Backend contract. A leaf module, imported only by type checkers (typing costs start-up
time the init container does not need)."""

from __future__ import annotations

from typing import Protocol

from proxyinit.firewall.model import Family, FamilyPlan


class Backend(Protocol):
    """The one boundary that touches the kernel.

    - `observe(family)` returns `iptables-save` text (all existing tables; asking must not
      create a table) for that family;
    - `commit(plans)` applies each non-empty FamilyPlan as one transaction per family, one
      family after the other in the order given (IPv6 first), or raises RuntimeFailure naming
      the family; a family whose transaction failed is left as it was, and the families after
      it are not committed.
    """

    name: str

    def observe(self, family: Family) -> str: ...

    def commit(self, plans: tuple[FamilyPlan, ...]) -> None: ...
