"""Where did a connection really go? The namespace's connection tracking table says.

`verify` must work while Envoy holds the proxy ports, so it cannot accept the probes itself and
ask SO_ORIGINAL_DST: instead it reads the conntrack entry its own SYN created. A NATed entry's
reply direction names the address and port the kernel rewrote the destination to (a REDIRECT:
the loopback or the interface's address, port 15001); an entry whose reply mirrors the original
was not rewritten. /proc/net/nf_conntrack is per network namespace (it follows the reader's).
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

PROC_CONNTRACK = "/proc/net/nf_conntrack"


class Entry(NamedTuple):
    """One TCP entry: original (src, sport, dst, dport), and where replies come from."""

    src: str
    sport: int
    dst: str
    dport: int
    reply_src: str
    reply_sport: int

    @property
    def redirected_to(self) -> int | None:
        """The port the destination was rewritten to, or None if it was not rewritten."""
        if (self.reply_src, self.reply_sport) == (self.dst, self.dport):
            return None
        return self.reply_sport


def _address(text: str) -> str:
    # IPv6 is printed fully expanded (2001:0002:0000:...); compare in one canonical form.
    return str(ipaddress.ip_address(text))


def parse_line(line: str, protocol: str = "tcp") -> Entry | None:
    words = line.split()
    if len(words) < 4 or words[2] != protocol:
        return None
    fields: list[tuple[str, str]] = [
        tuple(word.split("=", 1))
        for word in words
        if "=" in word  # type: ignore[misc]
    ]
    src = [value for key, value in fields if key == "src"]
    dst = [value for key, value in fields if key == "dst"]
    sport = [value for key, value in fields if key == "sport"]
    dport = [value for key, value in fields if key == "dport"]
    if min(len(src), len(dst), len(sport), len(dport)) < 2:
        return None
    return Entry(
        _address(src[0]),
        int(sport[0]),
        _address(dst[0]),
        int(dport[0]),
        _address(src[1]),
        int(sport[1]),
    )


def find(
    sport: int, dst: str, dport: int, text: str | None = None, protocol: str = "tcp"
) -> Entry | None:
    """The entry of the connection from local port `sport` to dst:dport, or None (UDP: of
    the datagrams, DNS capture's probe)."""
    if text is None:
        try:
            with open(PROC_CONNTRACK) as handle:
                text = handle.read()
        except OSError:  # no conntrack in this namespace yet: nothing was NATed
            return None
    wanted = _address(dst)
    for line in text.splitlines():
        if f"sport={sport} " not in line:
            continue
        entry = parse_line(line, protocol)
        if entry and (entry.sport, entry.dst, entry.dport) == (sport, wanted, dport):
            return entry
    return None
