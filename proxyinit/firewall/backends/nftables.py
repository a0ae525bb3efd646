"""Native nftables (`nft`): our own `inet proxyinit` table, read with `nft list table` and
replaced in one `nft -f -` transaction. Nothing outside that table is read or written, so other
tools' tables (iptables-nft's `ip nat` included) are never touched."""

from __future__ import annotations

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.backends import tables
from proxyinit.firewall.backends.restore import finish, run, start
from proxyinit.firewall.backends.spawn import which
from proxyinit.firewall.nft_rules import TABLE, TABLE_REF

NAME = "nftables"

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from proxyinit.firewall.backends.spawn import Child


def nft_binary() -> str | None:
    return which("nft")


def _nft() -> str:
    path = nft_binary()
    if path is None:
        raise RuntimeFailure("nft not found on PATH (install the nftables package)")
    return path


def observe(found_nf=tables.UNREAD) -> str | None:
    """Our table as nft lists it, or None if there is none (or no nft at all). `found_nf`:
    the kernel's table listing, if the caller has it (tables.py)."""
    path = nft_binary()
    if path is None:
        return None
    found_nf = tables.nf_tables_once(found_nf)
    if tables.has_nf_table(found_nf, tables.NFPROTO_INET, TABLE) is False:
        return None  # the kernel says so: no `nft list` process (tables.py)
    try:
        return run([path, "list", "table", *TABLE_REF.split()])
    except RuntimeFailure as err:
        if "No such file or directory" in str(err):
            return None
        raise


def present(found_nf=tables.UNREAD) -> bool:
    """Is our table there? For the iptables paths, which must not fail because nftables is
    unusable here (no nf_tables in the kernel, no permission): then it cannot be there."""
    try:
        return observe(found_nf) is not None
    except RuntimeFailure:
        return False


def start_commit() -> Child:
    """`nft -f -`, started before its script exists: its exec and start-up (~2 ms: loading
    libnftables and its libraries) overlap our render and compare on the other core. It reads
    the whole script before it touches the kernel, so killing it unfed (stop: nothing to
    commit, or a refusal) changes nothing. Dies with us (pdeath)."""
    from proxyinit.firewall.backends.pdeath import preexec_for_child

    return start([_nft(), "-f", "-"], preexec_for_child())


def commit(script: str, proc: Child | None = None) -> None:
    """One transaction: nft applies the whole file or nothing."""
    finish(proc or start_commit(), script)
