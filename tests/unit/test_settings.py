"""APPMESH_* validation: every bad input names its variable and value; good inputs parse."""

from __future__ import annotations

import ipaddress

import pytest

from proxyinit.errors import ConfigError
from proxyinit.settings import PortRange, load_settings, parse_network
from tests.cases import BAD_INPUTS, SCENARIOS, env


@pytest.mark.parametrize(
    ("name", "changes", "variable", "value"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_names_variable_and_value(name, changes, variable, value):
    with pytest.raises(ConfigError) as caught:
        load_settings(env(**changes))
    assert caught.value.exit_code == 2
    assert variable in str(caught.value)
    assert value in str(caught.value)


def test_at_least_forty_bad_inputs_are_covered():
    assert len(BAD_INPUTS) >= 40


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_is_valid(name):
    load_settings(SCENARIOS[name])


def test_defaults_start_disabled_and_ipv6_off():
    settings = load_settings({"APPMESH_IGNORE_UID": "1337", "APPMESH_ENVOY_EGRESS_PORT": "15001"})
    assert settings.START_ENABLED is False
    assert settings.ENABLE_IPV6 is False
    assert settings.APP_PORTS == ()


def test_lists_tolerate_whitespace_and_keep_order():
    settings = load_settings(env(APP_PORTS=" 9082, 9080 ,8000-8002"))
    assert (
        PortRange(9082, 9082),
        PortRange(9080, 9080),
        PortRange(8000, 8002),
    ) == settings.APP_PORTS


def test_addresses_become_networks():
    settings = load_settings(env(EGRESS_IGNORED_IP="203.0.113.7,10.0.0.0/8,fd00::1"))
    assert [str(n) for n in settings.EGRESS_IGNORED_IP] == [
        "203.0.113.7/32",
        "10.0.0.0/8",
        "fd00::1/128",
    ]
    assert settings.EGRESS_IGNORED_IP[2].version == 6


def test_ipv6_entries_while_disabled_warn_by_name(capsys):
    load_settings(env(EGRESS_IGNORED_IP="169.254.170.2,fd00:ec2::254"))
    err = capsys.readouterr().err
    assert "fd00:ec2::254" in err and "APPMESH_ENABLE_IPV6" in err


def test_no_warning_when_ipv6_enabled(capsys):
    load_settings(env(ENABLE_IPV6="1", EGRESS_IGNORED_IP="fd00:ec2::254"))
    assert capsys.readouterr().err == ""


def test_reads_process_environment(monkeypatch):
    for key, value in env(APP_PORTS="9090").items():
        monkeypatch.setenv(key, value)
    assert (PortRange(9090, 9090),) == load_settings().APP_PORTS


def test_all_problems_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        load_settings(env(APP_PORTS="x", EGRESS_IGNORED_IP="y"))
    assert "APPMESH_APP_PORTS" in str(caught.value) and "APPMESH_EGRESS_IGNORED_IP" in str(
        caught.value
    )


@pytest.mark.parametrize(
    "text",
    [
        "198.18.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "01.2.3.4",  # leading zero: refused by both paths
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3.-4",
        " 1.2.3.4",
        "1.2.3.4 ",
        "0x1.2.3.4",
        "1..2.3",
        "",
        "::ffff:1.2.3.4",
    ],
)
def test_ipv4_parsing_means_what_ipaddress_means(text):
    """parse_network (inet_pton, not ipaddress: start-up time) accepts and refuses exactly as
    ipaddress, and gives the same network."""
    try:
        expected = ipaddress.ip_network(text, strict=False)
    except ValueError:
        expected = None
    try:
        got = parse_network(text)
    except ValueError:
        got = None
    assert (got is None) == (expected is None)
    if got is not None:
        assert (str(got), got.version) == (str(expected), expected.version)
