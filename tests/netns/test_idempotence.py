"""Hardening item 1: what we render and what iptables-save prints back must compare equal.

`0.0.0.0/0` came back without `-d`, `::ffff:198.18.0.1` as `::ffff:198.18.0.1/128` where Python
writes `::ffff:c612:1/128`: every run committed again and `status` said drift for ever.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxyinit.firewall.backends import make_backend
from proxyinit.firewall.converge import commit, plan_apply, status
from proxyinit.firewall.netns import entered
from proxyinit.settings import load_settings
from tests.cases import env
from tests.netns.conftest import BACKENDS, proxyinit

TRICKY = {
    "v4-any": ("0.0.0.0/0", "0"),
    "v6-any": ("::/0", "1"),
    "v4-mapped": ("::ffff:198.18.0.1", "1"),
    "v4-compatible": ("::198.18.0.1", "1"),
    "mapped-prefix": ("::ffff:0:0/96", "1"),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(TRICKY))
def test_second_apply_commits_nothing_and_status_matches(netns, backend, case):
    address, ipv6 = TRICKY[case]
    config = env(EGRESS_IGNORED_IP=f"169.254.170.2,{address}", ENABLE_IPV6=ipv6)
    assert proxyinit(netns, "apply", env=config, backend=backend).returncode == 0
    again = proxyinit(netns, "apply", env=config, backend=backend)
    assert again.returncode == 0 and "changes" not in again.stderr, again.stderr
    status = proxyinit(netns, "status", env=config, backend=backend)
    assert status.returncode == 0, status.stdout


def test_any_address_disables_egress_capture_and_says_so(netns):
    result = proxyinit(netns, "apply", env=env(EGRESS_IGNORED_IP="0.0.0.0/0"))
    assert result.returncode == 0
    assert "0.0.0.0/0" in result.stderr and "no IPv4 egress" in result.stderr


# --- property: for random valid settings, apply twice -> the second run commits nothing ---

ENVOY_PORTS = (15000, 15001)
ports = st.integers(1, 65535).filter(lambda p: p not in ENVOY_PORTS)
v4_networks = st.builds(
    lambda addr, length: ipaddress.ip_network(f"{addr}/{length}", strict=False),
    st.ip_addresses(v=4),
    st.integers(0, 32),
)
v6_networks = st.builds(
    lambda addr, length: ipaddress.ip_network(f"{addr}/{length}", strict=False),
    st.one_of(st.ip_addresses(v=6), st.sampled_from(["::ffff:198.18.0.1", "::198.18.0.1"])),
    st.integers(0, 128),
)


def _port_list(values: list[int]) -> str | None:
    return ",".join(str(p) for p in sorted(set(values))) or None


@st.composite
def random_env(draw) -> dict[str, str]:
    ipv6 = draw(st.booleans())
    networks = draw(st.lists(st.one_of(v4_networks, v6_networks), max_size=6, unique=True))
    return env(
        IGNORE_UID=str(draw(st.integers(0, 2**32 - 2))),
        IGNORE_GID=draw(st.one_of(st.none(), st.integers(0, 65535).map(str))),
        APP_PORTS=_port_list(draw(st.lists(ports, min_size=1, max_size=20))),
        EGRESS_IGNORED_PORTS=_port_list(draw(st.lists(ports, max_size=20))),
        EGRESS_IGNORED_IP=",".join(str(n) for n in networks) or None,
        ENABLE_IPV6="1" if ipv6 else "0",
    )


@pytest.mark.parametrize("backend", BACKENDS)
@settings(
    max_examples=12,
    database=None,  # no .hypothesis directory left behind
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(config=random_env())
def test_apply_twice_commits_nothing_the_second_time(netns, backend, config):
    wanted = load_settings(config)
    with entered(netns):
        first = make_backend(backend)
        commit(plan_apply(wanted, first), first)
        second = plan_apply(wanted, make_backend(backend))
        verdict, report = status(wanted, make_backend(backend))
    assert second.empty, second
    assert verdict == "match", report
