"""Values App Mesh's route manager accepted with one clear meaning are applied in canonical form
with a warning naming them (a migrating init container must not crash-loop); values with no
meaning or two meanings stay configuration errors. Comma lists of ignored uids/gids."""

from __future__ import annotations

import pytest

from proxyinit.errors import ConfigError
from proxyinit.firewall.model import Family
from proxyinit.firewall.rules import desired_for
from proxyinit.netaddr import from_text
from proxyinit.settings import PortRange, load_settings
from tests.cases import env


def test_duplicate_ports_are_applied_once_with_a_warning(capsys):
    settings = load_settings(env(APP_PORTS="443,8443,443", EGRESS_IGNORED_PORTS="3306,3306"))
    assert (PortRange(443, 443), PortRange(8443, 8443)) == settings.APP_PORTS
    assert (PortRange(3306, 3306),) == settings.EGRESS_IGNORED_PORTS
    err = capsys.readouterr().err
    assert "warning: APPMESH_APP_PORTS='443,8443,443': duplicate 443 applied once" in err
    assert "APPMESH_EGRESS_IGNORED_PORTS='3306,3306': duplicate 3306 applied once" in err


def test_cidr_with_host_bits_is_applied_canonical_with_a_warning(capsys):
    settings = load_settings(
        env(ENABLE_IPV6="1", EGRESS_IGNORED_IP="10.1.2.3/8,2001:db8::1/32,10.0.0.0/8")
    )
    assert (
        from_text("10.0.0.0/8"),
        from_text("2001:db8::/32"),
    ) == settings.EGRESS_IGNORED_IP
    err = capsys.readouterr().err
    assert "'10.1.2.3/8' has host bits set: applied as 10.0.0.0/8" in err
    assert "'2001:db8::1/32' has host bits set: applied as 2001:db8::/32" in err
    assert "duplicate '10.0.0.0/8' (same as '10.1.2.3/8') applied once" in err


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("APP_PORTS", "9000:9100,9080"),  # overlap: which of two lists did they mean?
        ("EGRESS_IGNORED_IP", "10.0.0.0/255.0.0.0"),  # a netmask, not a prefix
        ("EGRESS_IGNORED_IP", "10.0.0.0/08"),
        ("IGNORE_UID", "1337,,1338"),
        ("IGNORE_UID", "1337,root"),
        ("IGNORE_GID", "1337;1338"),
        ("IGNORE_UID", "1337,-1"),
        ("IGNORE_GID", "1338,4294967295"),
    ],
)
def test_values_without_one_meaning_stay_errors(variable, value):
    with pytest.raises(ConfigError) as caught:
        load_settings(env(**{variable: value}))
    assert caught.value.exit_code == 2
    assert f"APPMESH_{variable}" in str(caught.value)


def test_comma_lists_of_uids_and_gids_each_get_an_exemption():
    settings = load_settings(env(IGNORE_UID="1337, 0", IGNORE_GID="1338,1339"))
    assert settings.IGNORE_UIDS == (1337, 0) and settings.IGNORE_GIDS == (1338, 1339)
    assert settings.IGNORE_UID == 1337  # the first, for code that knows one id
    lines = [rule.line() for rule in desired_for(settings, Family.IPV4).chains[0].rules]
    assert [line for line in lines if "owner" in line] == [
        f'-A APPMESH_EGRESS -m owner --{kind}-owner {n} -m comment --comment "proxyinit/egress-{kind}" -j RETURN'
        for kind, n in (("uid", 1337), ("uid", 0), ("gid", 1338), ("gid", 1339))
    ]


def test_single_uid_works_as_before():
    settings = load_settings(env())
    assert settings.IGNORE_UID == 1337 and settings.IGNORE_UIDS == (1337,)
    assert settings.IGNORE_GID is None and settings.IGNORE_GIDS == ()


def test_an_overlap_after_a_repeat_names_the_overlapping_item():
    """A repeat (80,80) must not shift which item the overlap error names: 9080 overlaps."""
    with pytest.raises(ConfigError) as caught:
        load_settings(env(APP_PORTS="80,80,9000:9100,9080"))
    assert "duplicate port '9080' (overlaps 9000:9100)" in str(caught.value)
