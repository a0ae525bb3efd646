"""Shared test data: the base APPMESH_* config and the table of bad inputs.

Scenarios are named mutators of one base config (istio-iptables' habit): each returns the env
that differs, so a failing golden points at exactly one change.
"""

from __future__ import annotations

from proxyinit.contract import init_container_env

# The walkthrough's proxyinit container (tests/data/colorapp/proxyinit-task-definition-fragment.yaml)
# with the ECS metadata/credentials endpoints as its ignored IPs, as App Mesh's docs advised.
BASE = init_container_env()


def env(**changes: str | None) -> dict[str, str]:
    """BASE with APPMESH_<KEY> changed (None removes it); a PROXYINIT_* key is taken as is."""
    merged = dict(BASE)
    for key, value in changes.items():
        name = key if key.startswith("PROXYINIT_") else f"APPMESH_{key}"
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


SCENARIOS: dict[str, dict[str, str]] = {
    "base": env(),
    "egress_only": env(APP_PORTS=None, ENVOY_INGRESS_PORT=None),
    "gid_only": env(IGNORE_UID=None, IGNORE_GID="1337"),
    "uid_and_gid": env(IGNORE_GID="1338"),
    "three_app_ports": env(APP_PORTS="9080,9081,9082"),
    "many_app_ports": env(APP_PORTS=",".join(str(p) for p in range(8000, 8020))),
    "port_ranges": env(APP_PORTS="8000:8010,9000-9005,9080", EGRESS_IGNORED_PORTS="3306,5432:5440"),
    "ignored_ports": env(EGRESS_IGNORED_PORTS="3306,6379"),
    "ignored_ports_includes_22": env(EGRESS_IGNORED_PORTS="22,3306"),
    "many_ignored_ports": env(EGRESS_IGNORED_PORTS=",".join(str(p) for p in range(3000, 3030))),
    "no_ignored_ips": env(EGRESS_IGNORED_IP=None),
    "cidrs": env(EGRESS_IGNORED_IP="10.0.0.0/8, 198.18.0.0/15 ,203.0.113.7"),
    "ipv6": env(ENABLE_IPV6="1", EGRESS_IGNORED_IP="169.254.170.2,fd00:ec2::254,2001:db8::/32"),
    "ipv6_entries_while_off": env(EGRESS_IGNORED_IP="169.254.170.2,fd00:ec2::254"),
    "whitespace": env(APP_PORTS=" 9080 , 9081 ", IGNORE_UID=" 1337 "),
    "empty_values_are_unset": env(EGRESS_IGNORED_IP="", EGRESS_IGNORED_PORTS="  ", ENABLE_IPV6=""),
    # DNS capture (issue 12 part 2): the resolver in the ignored IPs is captured all the same.
    "dns": env(PROXYINIT_REDIRECT_DNS="1"),
    "dns_ipv6_gid_port": env(
        PROXYINIT_REDIRECT_DNS="1",
        PROXYINIT_DNS_PORT="5353",
        ENABLE_IPV6="1",
        IGNORE_UID="1337,1338",
        IGNORE_GID="1337",
        EGRESS_IGNORED_IP="169.254.169.253,fd00:ec2::253",
    ),
    "dns_port_without_capture": env(PROXYINIT_DNS_PORT="15001", PROXYINIT_REDIRECT_DNS="0"),
}

# (name, env changes, variable the message must name, value the message must name)
BAD_INPUTS: list[tuple[str, dict[str, str | None], str, str]] = [
    ("redirect_dns_yes", {"PROXYINIT_REDIRECT_DNS": "yes"}, "PROXYINIT_REDIRECT_DNS", "yes"),
    ("redirect_dns_true", {"PROXYINIT_REDIRECT_DNS": "true"}, "PROXYINIT_REDIRECT_DNS", "true"),
    ("redirect_dns_2", {"PROXYINIT_REDIRECT_DNS": "2"}, "PROXYINIT_REDIRECT_DNS", "2"),
    ("dns_port_text", {"PROXYINIT_DNS_PORT": "dns"}, "PROXYINIT_DNS_PORT", "dns"),
    ("dns_port_zero", {"PROXYINIT_DNS_PORT": "0"}, "PROXYINIT_DNS_PORT", "0"),
    ("dns_port_too_big", {"PROXYINIT_DNS_PORT": "65536"}, "PROXYINIT_DNS_PORT", "65536"),
    ("dns_port_negative", {"PROXYINIT_DNS_PORT": "-53"}, "PROXYINIT_DNS_PORT", "-53"),
    (
        "dns_port_is_envoy_egress",
        {"PROXYINIT_REDIRECT_DNS": "1", "PROXYINIT_DNS_PORT": "15001"},
        "PROXYINIT_DNS_PORT=15001",
        "APPMESH_ENVOY_EGRESS_PORT=15001",
    ),
    (
        "dns_port_is_envoy_ingress",
        {"PROXYINIT_REDIRECT_DNS": "1", "PROXYINIT_DNS_PORT": "15000"},
        "PROXYINIT_DNS_PORT=15000",
        "APPMESH_ENVOY_INGRESS_PORT=15000",
    ),
    ("start_enabled_yes", {"START_ENABLED": "yes"}, "APPMESH_START_ENABLED", "yes"),
    ("start_enabled_true", {"START_ENABLED": "true"}, "APPMESH_START_ENABLED", "true"),
    ("start_enabled_2", {"START_ENABLED": "2"}, "APPMESH_START_ENABLED", "2"),
    ("ipv6_yes", {"ENABLE_IPV6": "yes"}, "APPMESH_ENABLE_IPV6", "yes"),
    ("ipv6_minus", {"ENABLE_IPV6": "-1"}, "APPMESH_ENABLE_IPV6", "-1"),
    ("uid_text", {"IGNORE_UID": "envoy"}, "APPMESH_IGNORE_UID", "envoy"),
    ("uid_negative", {"IGNORE_UID": "-1"}, "APPMESH_IGNORE_UID", "-1"),
    ("uid_float", {"IGNORE_UID": "13.37"}, "APPMESH_IGNORE_UID", "13.37"),
    ("uid_too_big", {"IGNORE_UID": "4294967295"}, "APPMESH_IGNORE_UID", "4294967295"),
    ("gid_text", {"IGNORE_GID": "envoy"}, "APPMESH_IGNORE_GID", "envoy"),
    ("gid_negative", {"IGNORE_GID": "-5"}, "APPMESH_IGNORE_GID", "-5"),
    ("no_uid_no_gid", {"IGNORE_UID": None}, "APPMESH_IGNORE_UID", "APPMESH_IGNORE_GID"),
    ("egress_missing", {"ENVOY_EGRESS_PORT": None}, "APPMESH_ENVOY_EGRESS_PORT", "required"),
    ("egress_text", {"ENVOY_EGRESS_PORT": "envoy"}, "APPMESH_ENVOY_EGRESS_PORT", "envoy"),
    ("egress_zero", {"ENVOY_EGRESS_PORT": "0"}, "APPMESH_ENVOY_EGRESS_PORT", "0"),
    ("egress_negative", {"ENVOY_EGRESS_PORT": "-15001"}, "APPMESH_ENVOY_EGRESS_PORT", "-15001"),
    ("egress_too_big", {"ENVOY_EGRESS_PORT": "65536"}, "APPMESH_ENVOY_EGRESS_PORT", "65536"),
    ("ingress_missing", {"ENVOY_INGRESS_PORT": None}, "APPMESH_ENVOY_INGRESS_PORT", "9080"),
    ("ingress_text", {"ENVOY_INGRESS_PORT": "15k"}, "APPMESH_ENVOY_INGRESS_PORT", "15k"),
    ("ingress_too_big", {"ENVOY_INGRESS_PORT": "99999"}, "APPMESH_ENVOY_INGRESS_PORT", "99999"),
    (
        "ingress_equals_egress",
        {"ENVOY_INGRESS_PORT": "15001"},
        "APPMESH_ENVOY_INGRESS_PORT",
        "15001",
    ),
    ("app_port_text", {"APP_PORTS": "http"}, "APPMESH_APP_PORTS", "http"),
    ("app_port_zero", {"APP_PORTS": "0"}, "APPMESH_APP_PORTS", "0"),
    ("app_port_negative", {"APP_PORTS": "-9080"}, "APPMESH_APP_PORTS", "-9080"),
    ("app_port_too_big", {"APP_PORTS": "9080,70000"}, "APPMESH_APP_PORTS", "70000"),
    ("app_port_empty_item", {"APP_PORTS": "9080,,9081"}, "APPMESH_APP_PORTS", "9080,,9081"),
    ("app_port_trailing_comma", {"APP_PORTS": "9080,"}, "APPMESH_APP_PORTS", "9080,"),
    ("app_port_range_overlap", {"APP_PORTS": "9000:9100,9080"}, "APPMESH_APP_PORTS", "9080"),
    ("app_port_range_reversed", {"APP_PORTS": "9100:9000"}, "APPMESH_APP_PORTS", "9100:9000"),
    ("app_port_range_open", {"APP_PORTS": "9000:"}, "APPMESH_APP_PORTS", "9000:"),
    (
        "app_port_range_three",
        {"APP_PORTS": "9000:9010:9020"},
        "APPMESH_APP_PORTS",
        "9000:9010:9020",
    ),
    ("app_port_range_dash_open", {"APP_PORTS": "9000-"}, "APPMESH_APP_PORTS", "9000-"),
    ("app_port_is_envoy_ingress", {"APP_PORTS": "9080,15000"}, "APPMESH_APP_PORTS", "15000"),
    ("app_port_is_envoy_egress", {"APP_PORTS": "15001"}, "APPMESH_APP_PORTS", "15001"),
    ("app_port_range_has_envoy", {"APP_PORTS": "14990:15010"}, "APPMESH_APP_PORTS", "14990:15010"),
    ("ignored_port_text", {"EGRESS_IGNORED_PORTS": "ssh"}, "APPMESH_EGRESS_IGNORED_PORTS", "ssh"),
    ("ignored_port_zero", {"EGRESS_IGNORED_PORTS": "0"}, "APPMESH_EGRESS_IGNORED_PORTS", "0"),
    (
        "ignored_port_too_big",
        {"EGRESS_IGNORED_PORTS": "65536"},
        "APPMESH_EGRESS_IGNORED_PORTS",
        "65536",
    ),
    (
        "ignored_port_empty_item",
        {"EGRESS_IGNORED_PORTS": ",3306"},
        "APPMESH_EGRESS_IGNORED_PORTS",
        ",3306",
    ),
    (
        "ignored_port_is_envoy",
        {"EGRESS_IGNORED_PORTS": "15001"},
        "APPMESH_EGRESS_IGNORED_PORTS",
        "15001",
    ),
    (
        "ignored_port_range_has_envoy",
        {"EGRESS_IGNORED_PORTS": "15000:15001"},
        "APPMESH_EGRESS_IGNORED_PORTS",
        "15000:15001",
    ),
    # Duplicates and CIDRs with host bits are applied canonically with a warning (issue 12,
    # tests/unit/test_migration_input.py); lists of ids must still be lists of ids.
    ("uid_list_empty_item", {"IGNORE_UID": "1337,,1338"}, "APPMESH_IGNORE_UID", "1337,,1338"),
    ("uid_list_name", {"IGNORE_UID": "1337,root"}, "APPMESH_IGNORE_UID", "root"),
    ("gid_list_semicolon", {"IGNORE_GID": "1337;1338"}, "APPMESH_IGNORE_GID", "1337;1338"),
    ("uid_list_negative", {"IGNORE_UID": "1337,-1"}, "APPMESH_IGNORE_UID", "-1"),
    ("gid_list_too_big", {"IGNORE_GID": "1,4294967295"}, "APPMESH_IGNORE_GID", "4294967295"),
    (
        "ip_netmask_in_list",
        {"EGRESS_IGNORED_IP": "10.0.0.0/8,10.0.0.0/255.0.0.0"},
        "APPMESH_EGRESS_IGNORED_IP",
        "255.0.0.0",
    ),
    ("ip_garbage", {"EGRESS_IGNORED_IP": "metadata"}, "APPMESH_EGRESS_IGNORED_IP", "metadata"),
    (
        "ip_octet_too_big",
        {"EGRESS_IGNORED_IP": "169.254.170.256"},
        "APPMESH_EGRESS_IGNORED_IP",
        "169.254.170.256",
    ),
    (
        "ip_bad_prefix",
        {"EGRESS_IGNORED_IP": "10.0.0.0/33"},
        "APPMESH_EGRESS_IGNORED_IP",
        "10.0.0.0/33",
    ),
    (
        "ip_empty_item",
        {"EGRESS_IGNORED_IP": "10.0.0.0/8,,1.2.3.4"},
        "APPMESH_EGRESS_IGNORED_IP",
        "10.0.0.0/8,,1.2.3.4",
    ),
    (
        "ip_range_dash",
        {"EGRESS_IGNORED_IP": "10.0.0.1-10.0.0.9"},
        "APPMESH_EGRESS_IGNORED_IP",
        "10.0.0.1-10.0.0.9",
    ),
    (
        "ip_v6_scope_id",
        {"ENABLE_IPV6": "1", "EGRESS_IGNORED_IP": "169.254.170.2,fe80::1%eth0"},
        "APPMESH_EGRESS_IGNORED_IP",
        "fe80::1%eth0",
    ),
    (
        "ip_netmask_form",
        {"EGRESS_IGNORED_IP": "10.0.0.0/255.0.0.0"},
        "APPMESH_EGRESS_IGNORED_IP",
        "10.0.0.0/255.0.0.0",
    ),
    (
        "ip_zero_padded_prefix",
        {"EGRESS_IGNORED_IP": "10.0.0.0/08"},
        "APPMESH_EGRESS_IGNORED_IP",
        "10.0.0.0/08",
    ),
    (
        "port_fullwidth_digits",
        {"APP_PORTS": "\uff19\uff10\uff18\uff10"},
        "APPMESH_APP_PORTS",
        "\uff19\uff10\uff18\uff10",
    ),
    (
        "port_superscript",
        {"EGRESS_IGNORED_PORTS": "\u00b2"},
        "APPMESH_EGRESS_IGNORED_PORTS",
        "\u00b2",
    ),
    # iptables reads 010 as octal 8 and refuses 080: both ambiguous (hardening item 8).
    ("app_port_leading_zero", {"APP_PORTS": "080"}, "APPMESH_APP_PORTS", "080"),
    ("app_port_octal", {"APP_PORTS": "010"}, "APPMESH_APP_PORTS", "010"),
    ("uid_leading_zero", {"IGNORE_UID": "01337"}, "APPMESH_IGNORE_UID", "01337"),
    (
        "app_port_full_width",
        {"APP_PORTS": "\uff19\uff10\uff18\uff10"},
        "APPMESH_APP_PORTS",
        "\uff19",
    ),
]
