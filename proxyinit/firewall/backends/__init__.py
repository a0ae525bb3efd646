"""Backends: the one boundary that touches the kernel (contract: backends/protocol.py).

Each reads with `*-save` (or libiptc) and commits a FamilyPlan per family in one transaction.
`plan` needs no backend of its own: it is the same observe -> plan path as `apply`, minus the
commit. Tests use a recording double (tests/support/recording_backend.py).
"""

from __future__ import annotations

from proxyinit.firewall.model import Family

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from proxyinit.firewall.backends.protocol import Backend

NAMES = ("auto", "iptc", "legacy", "nft", "nftables")  # the choices of --backend


def make_backend(name: str, observed: dict[Family, str] | None = None) -> Backend:
    """Build a concrete backend by name (not `auto`: see backends.select). `observed`: save
    text already read, served by the first observe() of each family."""
    if name == "iptc":
        from proxyinit.firewall.backends.iptc import IptcBackend

        return IptcBackend(observed)
    from proxyinit.firewall.backends.restore import RestoreBackend

    return RestoreBackend(name, observed)
