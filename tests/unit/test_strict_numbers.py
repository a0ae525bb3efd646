"""Item 8 of the hardening pass: numbers iptables or Envoy would read differently from us.

`010` is octal 8 to iptables (strtoul base 0) and `080` is refused by it; full-width digits are
digits to str.isdigit() but to nothing else. Both are ambiguous: exit 2, naming the variable.
A huge bad value must not be echoed in full (a 100 KB env var made a 200 KB error line).
"""

from __future__ import annotations

import pytest

from proxyinit.contract import parse_int
from proxyinit.errors import ConfigError
from proxyinit.mesh.runtime.bootstrap import settings_from_env
from proxyinit.settings import load_settings
from tests.cases import env

NODE = {"APPMESH_VIRTUAL_NODE_NAME": "mesh/m/virtualNode/n"}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("APP_PORTS", "010"),
        ("APP_PORTS", "080"),
        ("APP_PORTS", "9080,0443"),
        ("APP_PORTS", "08000:8010"),
        ("APP_PORTS", "8000-08010"),
        ("ENVOY_EGRESS_PORT", "015001"),
        ("ENVOY_INGRESS_PORT", "015000"),
        ("EGRESS_IGNORED_PORTS", "03306"),
        ("IGNORE_UID", "01337"),
        ("IGNORE_GID", "00"),
        ("APP_PORTS", "９０８０"),
        ("IGNORE_UID", "1_337"),
    ],
)
def test_leading_zero_and_non_ascii_numbers_are_refused(variable, value):
    with pytest.raises(ConfigError) as caught:
        load_settings(env(**{variable: value}))
    assert caught.value.exit_code == 2
    assert f"APPMESH_{variable}" in str(caught.value) and value in str(caught.value)


def test_zero_itself_is_still_a_number():
    assert load_settings(env(IGNORE_UID="0")).IGNORE_UID == 0


@pytest.mark.parametrize("value", ["９９０１", "09901", "+9901", "9_901", " 9901x"])
def test_envoy_bootstrap_refuses_ambiguous_admin_ports(value):
    with pytest.raises(ConfigError) as caught:
        settings_from_env({**NODE, "ENVOY_ADMIN_ACCESS_PORT": value})
    assert "ENVOY_ADMIN_ACCESS_PORT" in str(caught.value)


@pytest.mark.parametrize("value", ["127.0.0.1:１５０１０", "127.0.0.1:015010", "127.0.0.1:+80"])
def test_envoy_bootstrap_refuses_ambiguous_xds_ports(value):
    with pytest.raises(ConfigError) as caught:
        settings_from_env({**NODE, "APPMESH_XDS_ENDPOINT": value})
    assert "APPMESH_XDS_ENDPOINT" in str(caught.value)


@pytest.mark.parametrize(
    "variable", ["APP_PORTS", "EGRESS_IGNORED_IP", "IGNORE_UID", "START_ENABLED"]
)
def test_a_huge_bad_value_is_cut_in_the_message(variable):
    value = "9" * 50_000 + "x" * 50_000
    with pytest.raises(ConfigError) as caught:
        load_settings(env(**{variable: value}))
    message = str(caught.value)
    assert f"APPMESH_{variable}" in message and len(message) < 600
    assert "100000 characters" in message


def test_a_huge_bad_bootstrap_value_is_cut():
    with pytest.raises(ConfigError) as caught:
        settings_from_env({**NODE, "ENVOY_ADMIN_ACCESS_PORT": "x" * 100_000})
    assert len(str(caught.value)) < 600


@pytest.mark.parametrize(("text", "number"), [("0", 0), ("1", 1), ("65535", 65535), ("1337", 1337)])
def test_parse_int_accepts_plain_decimals(text, number):
    assert parse_int(text, "n", 0, 65535) == number


@pytest.mark.parametrize("text", ["", "00", "01", "+1", "-1", "1_0", "１", "²", "1 0", "0x10"])
def test_parse_int_refuses_everything_else(text):
    with pytest.raises(ValueError):
        parse_int(text, "n", 0, 65535)


def test_a_cidr_prefix_of_thousands_of_digits_is_refused_as_not_canonical():
    """The prefix goes through the one strict parser: int() of 5,000 digits raised its own error."""
    with pytest.raises(ConfigError, match="not canonical"):
        load_settings(env(EGRESS_IGNORED_IP="10.0.0.0/" + "9" * 5000))
