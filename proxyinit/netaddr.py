"""IP networks for the init container's path, without `ipaddress`.

`import ipaddress` costs ~4.5 ms of every task start (it imports functools, which imports
collections): a sixth of a whole `proxyinit` run, for what the redirector asks of an address:
parse it strictly, drop host bits, compare, hash, sort, print. The C library's inet_pton
accepts exactly the address forms ipaddress accepts (IPv4: four decimal octets, none over 255,
no leading zeros; IPv6: up to eight hextets, one `::`, a dotted quad last), scope ids aside,
which settings refuses first; `str()` writes what ipaddress writes. tests/unit/test_netaddr.py
holds both to ipaddress's answers. The control plane, which starts once, uses ipaddress.
"""

from __future__ import annotations

import _socket  # inet_pton without `socket`'s import cost (see firewall/lock.py)

_BITS = {4: 32, 6: 128}


class Network:
    """An IPv4 or IPv6 network: `version` (4 or 6), `packed` (its address in network byte
    order, host bits zero) and `prefixlen`. Equal, hashed and sorted as that triple."""

    __slots__ = ("packed", "prefixlen", "version")

    def __init__(self, version: int, packed: bytes, prefixlen: int) -> None:
        self.version, self.packed, self.prefixlen = version, packed, prefixlen

    @property
    def max_prefixlen(self) -> int:
        return _BITS[self.version]

    @property
    def address(self) -> str:
        """The network address as ipaddress writes it (IPv6: RFC 5952, hex only)."""
        if self.version == 4:
            return _socket.inet_ntoa(self.packed)
        return _ipv6_text(self.packed)

    def _key(self) -> tuple[int, bytes, int]:
        return self.version, self.packed, self.prefixlen

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Network) and self._key() == other._key()

    def __lt__(self, other: Network) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return f"{self.address}/{self.prefixlen}"

    def __repr__(self) -> str:
        return f"Network({str(self)!r})"


def host_ipv4(text: str) -> Network | None:
    """A plain dotted quad as its /32, None for anything else: the common case first (1,000
    ignored IPs), at about half the cost of the general path."""
    try:
        return Network(4, _socket.inet_pton(_socket.AF_INET, text), 32)
    except OSError:
        return None


def parse_address(text: str) -> tuple[int, bytes] | None:
    """(version, packed) of a plain IPv4 or IPv6 address, None if `text` is neither."""
    try:
        return 4, _socket.inet_pton(_socket.AF_INET, text)
    except OSError:
        pass
    try:
        return 6, _socket.inet_pton(_socket.AF_INET6, text)
    except OSError:
        return None


def from_text(text: str) -> Network | None:
    """`ADDRESS` or `ADDRESS/LENGTH` (a decimal length) as its network, host bits dropped;
    None if it is neither (a netmask, a scope id, a name)."""
    address, slash, prefix = text.partition("/")
    parsed = parse_address(address)
    if parsed is None:
        return None
    if not slash:
        return network_of(*parsed)
    if not (prefix.isdigit() and prefix.isascii() and len(prefix) <= 3):
        return None
    return network_of(*parsed, int(prefix))


def network_of(version: int, packed: bytes, prefixlen: int | None = None) -> Network | None:
    """The network of `prefixlen` bits (all of them if None) containing the address, host
    bits dropped; None if the prefix is longer than the family's."""
    bits = _BITS[version]
    if prefixlen is None or prefixlen == bits:
        return Network(version, packed, bits)
    if not 0 <= prefixlen < bits:
        return None
    host_mask = (1 << (bits - prefixlen)) - 1
    value = int.from_bytes(packed, "big") & ~host_mask
    return Network(version, value.to_bytes(len(packed), "big"), prefixlen)


def _ipv6_text(packed: bytes) -> str:
    """ipaddress's form: lowercase hextets without leading zeros, the longest run of two or
    more zero hextets (the first of equals) as `::`. inet_ntop differs: it writes an IPv4
    tail as a dotted quad (`::ffff:198.18.0.1`), which ipaddress never does."""
    hextets = [f"{packed[i] << 8 | packed[i + 1]:x}" for i in range(0, 16, 2)]
    best_start, best_length, start = -1, 1, -1
    for index, hextet in enumerate([*hextets, "end"]):
        if hextet == "0":
            start = index if start < 0 else start
            continue
        if start >= 0 and index - start > best_length:
            best_start, best_length = start, index - start
        start = -1
    if best_start < 0:
        return ":".join(hextets)
    head = ":".join(hextets[:best_start])
    tail = ":".join(hextets[best_start + best_length :])
    return f"{head}::{tail}"
