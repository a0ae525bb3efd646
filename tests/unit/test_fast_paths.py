"""The shortcuts taken for 1,000 ignored IPs and ports (bench/apply.py) mean exactly what the
full parsers and renderers mean: same values, same errors."""

from __future__ import annotations

import ipaddress

import pytest

from proxyinit.contract import parse_port
from proxyinit.firewall.nft_rules import _network
from proxyinit.settings import PortRange, parse_network, parse_port_range

PORT_TOKENS = ["1", "22", "9080", "65535", "65536", "0", "00", "080", "99999", "100000",
               "٣", "９", "1_5", "+80", "-1", " 80 ", "80 ", "8080:8090", "1-3"]  # fmt: skip


def _outcome(call, token):
    try:
        return call(token)
    except ValueError as err:
        return ("error", str(err))


@pytest.mark.parametrize("token", PORT_TOKENS)
def test_plain_port_shortcut_agrees_with_the_strict_parser(token):
    if ":" in token or "-" in token.strip().lstrip("-"):
        return  # ranges take the full path; covered by test_settings
    strict = _outcome(parse_port, token)
    expected = PortRange(strict, strict) if isinstance(strict, int) else strict
    assert _outcome(parse_port_range, token) == expected


@pytest.mark.parametrize("text", ["0.0.0.0", "198.18.0.1", "255.255.255.255", "10.0.0.1"])
def test_plain_ipv4_is_the_host_network_ipaddress_makes(text):
    fast = parse_network(text)
    full = ipaddress.ip_network(text)
    assert fast.prefixlen == 32 and str(fast) == str(full) and fast.version == 4
    assert _network(fast) == text  # as nft lists a host: no /32


@pytest.mark.parametrize("text", ["198.18.0.0/15", "2001:2::1", "::ffff:198.18.0.1", "::/0"])
def test_other_networks_render_as_before(text):
    network = parse_network(text)
    assert "/" not in _network(network) or network.prefixlen < network.max_prefixlen
