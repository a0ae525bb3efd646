"""Which netfilter tables exist in this namespace, asked of the kernel without a process.

Most runs are an init container in a fresh namespace: no table anywhere, so every `*-save`
and `nft list` would print nothing, and each costs a process (~1-3 ms, the four saves ~5 ms
side by side on 2 cores). The same answer is in the kernel:
- legacy (x_tables): /proc/net/ip_tables_names and ip6_tables_names, the very files
  `iptables-legacy-save` reads to list tables (it prints nothing for a table not listed);
- nf_tables (iptables-nft's `ip`/`ip6` tables, our `inet proxyinit`): one NFT_MSG_GETTABLE
  dump over nfnetlink, as `nft list tables` sends it.
Read-only; any doubt (no answer, an error, a timeout) is None, and the caller runs the
process it would have run anyway.
"""

from __future__ import annotations

import _socket  # not `socket`: its import costs start-up time (see firewall/lock.py)
import sys

from proxyinit.firewall.model import Family

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETTABLE, NFT_MSG_NEWTABLE = 1, 0
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLM_F_DUMP_INTR = 0x10  # the table list changed while it was dumped: the answer is not whole
NLMSG_ERROR, NLMSG_DONE = 2, 3
NFTA_TABLE_NAME = 1
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
NFPROTO = {Family.IPV4: 2, Family.IPV6: 10}  # nf_tables families of iptables-nft's tables
NFPROTO_INET = 1
LEGACY_NAMES = {Family.IPV4: "/proc/net/ip_tables_names", Family.IPV6: "/proc/net/ip6_tables_names"}
TIMEOUT_SECONDS = 2.0


def legacy_tables(family: Family) -> frozenset[str] | None:
    """The x_tables tables of this namespace (what iptables-legacy-save would list)."""
    try:
        with open(LEGACY_NAMES[family]) as names:
            return frozenset(names.read().split())
    except FileNotFoundError:
        # No ip_tables module loaded, hence no legacy table; unless /proc itself is missing.
        return frozenset() if _proc_net_mounted() else None
    except OSError:
        return None


def _proc_net_mounted() -> bool:
    try:
        with open("/proc/net/dev"):
            return True
    except OSError:
        return False


UNREAD = object()  # a listing not read yet: nf_tables_once reads it


def nf_tables_once(found_nf=UNREAD) -> frozenset[tuple[int, str]] | None:
    """`found_nf` if the caller has read the listing already (one dump per run), else a dump."""
    return nf_tables() if found_nf is UNREAD else found_nf


def nf_tables() -> frozenset[tuple[int, str]] | None:
    """(nf_tables family number, table name) of every table in this namespace."""
    try:
        sock = _socket.socket(
            _socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_NETFILTER
        )
    except OSError:
        return None
    try:
        sock.settimeout(TIMEOUT_SECONDS)
        sock.bind((0, 0))
        sock.send(_dump_request())
        return _read_dump(sock)
    except OSError:  # timeouts included
        return None
    finally:
        sock.close()


def _u16(value: int) -> bytes:
    return value.to_bytes(2, sys.byteorder)


def _u32(value: int) -> bytes:
    return value.to_bytes(4, sys.byteorder)


def _dump_request() -> bytes:
    kind = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE
    nfgenmsg = bytes([0, 0, 0, 0])  # family unspec (all), version 0, res_id 0
    length = 16 + len(nfgenmsg)
    return (
        _u32(length) + _u16(kind) + _u16(NLM_F_REQUEST | NLM_F_DUMP) + _u32(1) + _u32(0) + nfgenmsg
    )


def _read_dump(sock) -> frozenset[tuple[int, str]] | None:
    tables: set[tuple[int, str]] = set()
    while True:
        data = sock.recv(65536)
        if not data:
            return None
        for kind, flags, payload in _messages(data):
            if flags & NLM_F_DUMP_INTR:
                return None
            if kind == NLMSG_DONE:
                return frozenset(tables)
            if kind == NLMSG_ERROR:
                return None  # a dump answers with DONE; an error (EPERM...) is no answer
            if kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE:
                name = _table_name(payload[4:])  # after struct nfgenmsg
                if name is None:
                    return None
                tables.add((payload[0], name))


def _messages(data: bytes):
    """(type, flags, payload) of each netlink message in one datagram."""
    offset = 0
    while offset + 16 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], sys.byteorder)
        kind = int.from_bytes(data[offset + 4 : offset + 6], sys.byteorder)
        flags = int.from_bytes(data[offset + 6 : offset + 8], sys.byteorder)
        if length < 16:
            return
        yield kind, flags, data[offset + 16 : offset + length]
        offset += (length + 3) & ~3


def _table_name(attributes: bytes) -> str | None:
    offset = 0
    while offset + 4 <= len(attributes):
        length = int.from_bytes(attributes[offset : offset + 2], sys.byteorder)
        kind = int.from_bytes(attributes[offset + 2 : offset + 4], sys.byteorder) & NLA_TYPE_MASK
        if length < 4:
            return None
        if kind == NFTA_TABLE_NAME:
            return attributes[offset + 4 : offset + length].rstrip(b"\0").decode()
        offset += (length + 3) & ~3
    return None


def variant_has_tables(variant: str, family: Family, found_nf=None) -> bool | None:
    """Does `variant`'s save have any table to print for `family`? None: cannot tell."""
    if variant == "legacy":
        names = legacy_tables(family)
        return None if names is None else bool(names)
    if found_nf is None:
        return None
    return any(number == NFPROTO[family] for number, _ in found_nf)


def has_nf_table(found_nf, family: int, name: str) -> bool | None:
    return None if found_nf is None else (family, name) in found_nf
