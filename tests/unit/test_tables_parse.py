"""backends/tables.py's nfnetlink parsing on made-up answers (the real kernel: tests/netns)."""

from __future__ import annotations

import sys

from proxyinit.firewall.backends import tables

NEWTABLE = (tables.NFNL_SUBSYS_NFTABLES << 8) | tables.NFT_MSG_NEWTABLE


def message(kind: int, payload: bytes, flags: int = 0) -> bytes:
    length = 16 + len(payload)
    header = length.to_bytes(4, sys.byteorder) + kind.to_bytes(2, sys.byteorder)
    header += flags.to_bytes(2, sys.byteorder) + bytes(8)
    return header + payload + bytes(-length % 4)


def table(family: int, name: str, flags: int = 0) -> bytes:
    value = name.encode() + b"\0"
    attribute = (4 + len(value)).to_bytes(2, sys.byteorder)
    attribute += tables.NFTA_TABLE_NAME.to_bytes(2, sys.byteorder) + value
    attribute += bytes(-len(attribute) % 4)
    flags_attr = (8).to_bytes(2, sys.byteorder) + (2).to_bytes(2, sys.byteorder) + bytes(4)
    return message(NEWTABLE, bytes([family, 0, 0, 0]) + flags_attr + attribute, flags)


class Answers:
    def __init__(self, *datagrams: bytes) -> None:
        self.datagrams = list(datagrams)

    def recv(self, size: int) -> bytes:
        return self.datagrams.pop(0)


def test_tables_across_datagrams_until_done():
    done = message(tables.NLMSG_DONE, bytes(4))
    answers = Answers(table(2, "nat") + table(1, "proxyinit"), table(10, "filter") + done)
    assert tables._read_dump(answers) == {(2, "nat"), (1, "proxyinit"), (10, "filter")}


def test_an_error_or_an_interrupted_dump_is_no_answer():
    error = message(tables.NLMSG_ERROR, (-1).to_bytes(4, sys.byteorder, signed=True))
    assert tables._read_dump(Answers(error)) is None
    interrupted = table(2, "nat", flags=tables.NLM_F_DUMP_INTR)
    assert tables._read_dump(Answers(interrupted)) is None
    assert tables._read_dump(Answers(b"")) is None
