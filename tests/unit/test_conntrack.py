"""Reading /proc/net/nf_conntrack lines (verify's evidence). Pure: lines as the kernel prints them."""

from __future__ import annotations

from proxyinit.firewall.conntrack import find, parse_line

REDIRECTED_V4 = (
    "ipv4     2 tcp      6 431999 ESTABLISHED src=198.18.0.1 dst=198.18.0.254 sport=56871 "
    "dport=80 src=127.0.0.1 dst=198.18.0.1 sport=15001 dport=56871 [ASSURED] mark=0 zone=0 use=2"
)
DIRECT_V6 = (
    "ipv6     10 tcp      6 118 SYN_SENT src=2001:0002:0000:0000:0000:0000:0000:0001 "
    "dst=2001:0002:0000:0000:0000:0000:0000:00fe sport=40000 dport=80 [UNREPLIED] "
    "src=2001:0002:0000:0000:0000:0000:0000:00fe dst=2001:0002:0000:0000:0000:0000:0000:0001 "
    "sport=80 dport=40000 mark=0 zone=0 use=2"
)
UDP = "ipv4     2 udp      17 29 src=10.0.0.1 dst=10.0.0.2 sport=5353 dport=53 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5353"


def test_redirected_entry_names_the_port():
    entry = parse_line(REDIRECTED_V4)
    assert entry.redirected_to == 15001


def test_expanded_ipv6_entry_that_was_not_rewritten():
    entry = parse_line(DIRECT_V6)
    assert entry.dst == "2001:2::fe" and entry.redirected_to is None


def test_find_matches_port_and_destination_only():
    text = "\n".join([UDP, REDIRECTED_V4, DIRECT_V6])
    assert find(56871, "198.18.0.254", 80, text).redirected_to == 15001
    assert find(40000, "2001:2::fe", 80, text).redirected_to is None
    assert find(56871, "198.18.0.9", 80, text) is None
    assert find(5353, "10.0.0.2", 53, text) is None  # not TCP
    assert parse_line("garbage") is None


def test_verify_picks_ids_and_a_port_nobody_exempts():
    from proxyinit.firewall.verify import _other_id, egress_port
    from proxyinit.settings import load_settings
    from tests.cases import env

    assert _other_id({1337}) == 65534 and _other_id({65534, 65533}) == 65532
    assert egress_port(load_settings(env(EGRESS_IGNORED_PORTS="80,443", APP_PORTS="8080"))) == 1234
    almost = env(EGRESS_IGNORED_PORTS="1-15000,15002-65535", APP_PORTS=None)
    assert egress_port(load_settings({**almost, "APPMESH_ENVOY_INGRESS_PORT": ""})) == 15001
