"""Item 1, pure part: our rendering of addresses is iptables-save's, whatever build printed it."""

from __future__ import annotations

import pytest

from proxyinit.firewall.model import save_address
from proxyinit.firewall.rules import address_match
from proxyinit.firewall.state import canonical
from proxyinit.netaddr import from_text

TAIL = '-p tcp -m comment --comment "proxyinit/egress-ignored-ip" -j RETURN'


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("::ffff:198.18.0.1/128", "::ffff:198.18.0.1/128"),
        ("::198.18.0.1/128", "::198.18.0.1/128"),
        ("::ffff:0:0/96", "::ffff:0.0.0.0/96"),
        ("2001:2::/48", "2001:2::/48"),
        ("198.18.0.0/15", "198.18.0.0/15"),
    ],
)
def test_save_address_is_what_iptables_save_prints(text, printed):
    assert save_address(from_text(text)) == printed


@pytest.mark.parametrize("text", ["0.0.0.0/0", "::/0"])
def test_a_slash_zero_has_no_address_match(text):
    assert address_match(from_text(text)) == ()


@pytest.mark.parametrize(
    ("observed", "ours"),
    [
        (
            f"-A APPMESH_EGRESS -d ::ffff:c612:1/128 {TAIL}",
            f"-A APPMESH_EGRESS -d ::ffff:198.18.0.1/128 {TAIL}",
        ),
        (f"-A APPMESH_EGRESS -d 0.0.0.0/0 {TAIL}", f"-A APPMESH_EGRESS {TAIL}"),
        (f"-A APPMESH_EGRESS -d ::/0 {TAIL}", f"-A APPMESH_EGRESS {TAIL}"),
        (f"-A APPMESH_EGRESS -d 10.0.0.0/8 {TAIL}", f"-A APPMESH_EGRESS -d 10.0.0.0/8 {TAIL}"),
        ("-A OUTPUT -d not-an-address -j X", "-A OUTPUT -d not-an-address -j X"),
    ],
)
def test_observed_rules_are_canonicalised(observed, ours):
    assert canonical(observed) == ours
