"""proxyinit/netaddr.py means what ipaddress means (it exists only so the init container's
path does not import ipaddress): the same addresses accepted, the same networks, the same text,
the same equality and order."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyinit.netaddr import from_text, network_of, parse_address

EDGES = ["::", "::1", "1::", ":1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8::", "1:2:3:4:5:6:7::",
         "::1:2:3:4:5:6:7:8", "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4",
         "1:2:3:4:5:6:7:1.2.3.4", "::ffff:01.2.3.4", "::ffff:1.2.3", "::ffff:256.1.1.1",
         "12345::", "1:::2", "1::2::3", "", ":", ":::", "1:2:3:4:5:6:7", "00000::", "g::",
         "::FFFF:1.2.3.4", "1::1.2.3.4", "::1.2.3.4:5", " ::1", "::1 ", "0.0.0.0",
         "255.255.255.255", "256.1.1.1", "01.1.1.1", "1.1.1", "1.1.1.1.", "1.2.3.4\n",
         "١.2.3.4", "0x1.2.3.4", "fe80::1"]  # fmt: skip


def _theirs(text: str):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _same_address(text: str) -> None:
    ours, theirs = parse_address(text), _theirs(text)
    assert (ours is None) == (theirs is None), text
    if ours is not None:
        assert ours == (theirs.version, theirs.packed)
        assert str(network_of(*ours)) == str(ipaddress.ip_network(theirs)), text


@pytest.mark.parametrize("text", EDGES)
def test_the_same_addresses_are_accepted(text):
    _same_address(text)


@given(st.text(alphabet="0123456789abcdefABCDEF:.", max_size=20))
def test_random_text_is_accepted_or_refused_as_ipaddress_does(text):
    _same_address(text)


@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)), st.integers(0, 128))
def test_networks_drop_host_bits_and_print_as_ipaddress_does(address, length):
    text = f"{address}/{length}"
    try:
        theirs = ipaddress.ip_network(text, strict=False)
    except ValueError:  # a prefix longer than the family's
        assert from_text(text) is None
        return
    ours = from_text(text)
    assert (str(ours), ours.version, ours.prefixlen) == (str(theirs), theirs.version, length)
    assert ours.address == str(theirs.network_address)
    assert ours.packed == theirs.network_address.packed
    assert ours == from_text(str(theirs)) and hash(ours) == hash(from_text(str(theirs)))


NETWORKS = st.builds(
    lambda address, length: ipaddress.ip_network(
        f"{address}/{length % (address.max_prefixlen + 1)}", strict=False
    ),
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
    st.integers(0, 128),
)


@given(st.lists(NETWORKS, min_size=2, max_size=8))
def test_order_and_equality_follow_ipaddress(networks):
    ours = [from_text(str(n)) for n in networks]
    by_family = sorted(networks, key=lambda n: (n.version, n))  # ipaddress: one family at a time
    assert [str(n) for n in sorted(ours)] == [str(n) for n in by_family]
    assert len(set(ours)) == len(set(networks))


@pytest.mark.parametrize(
    "text", ["10.0.0.0/255.0.0.0", "10.0.0.0/+8", "10.0.0.0/", "x/8", "::/129"]
)
def test_what_is_not_a_network_is_none(text):
    assert from_text(text) is None
