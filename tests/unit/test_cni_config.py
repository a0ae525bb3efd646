"""CNI plugin mode's input: the aws-appmesh keys -> APPMESH_*, and every bad input refused with
the spec's error object naming the key and the value, before anything is touched.

Bad-input cases run `cni.run` in-process with CNI_NETNS pointing nowhere, so even a bug that
got past validation could not enter (or change) any namespace: it would fail with code 4."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from proxyinit.firewall import cni
from proxyinit.firewall.cni_config import parse

NOWHERE = "/nonexistent/proxyinit-test-netns"
ENV = {"CNI_CONTAINERID": "c1", "CNI_NETNS": NOWHERE, "CNI_IFNAME": "eth0", "CNI_PATH": "/x"}
GOOD = {
    "cniVersion": "1.0.0",
    "name": "appmesh",
    "type": "proxyinit",
    "ignoredUID": "1337",
    "ignoredGID": "1338",
    "proxyIngressPort": "15000",
    "proxyEgressPort": "15001",
    "appPorts": ["9080", "8000-8010"],
    "egressIgnoredPorts": ["3306"],
    "egressIgnoredIPs": ["169.254.169.254", "2001:2::/48"],
    "enableIPv6": True,
    "prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "198.18.5.2/24"}]},
}


def with_(**changes) -> str:
    conf = {**GOOD, **changes}
    return json.dumps({k: v for k, v in conf.items() if v is not ...})


def test_keys_mean_the_appmesh_variables():
    conf = parse(json.dumps(GOOD))
    assert conf.version == "1.0.0"
    assert conf.prev_result == GOOD["prevResult"]
    assert conf.env == {
        "APPMESH_START_ENABLED": "1",
        "APPMESH_IGNORE_UID": "1337",
        "APPMESH_IGNORE_GID": "1338",
        "APPMESH_ENVOY_INGRESS_PORT": "15000",
        "APPMESH_ENVOY_EGRESS_PORT": "15001",
        "APPMESH_APP_PORTS": "9080,8000-8010",
        "APPMESH_EGRESS_IGNORED_PORTS": "3306",
        "APPMESH_EGRESS_IGNORED_IP": "169.254.169.254,2001:2::/48",
        "APPMESH_ENABLE_IPV6": "1",
    }


def test_dns_keys_mean_the_proxyinit_variables():
    """DNS capture is proxyinit's own (PROXYINIT_*), not an aws-appmesh key; same validation."""
    conf = parse(with_(redirectDNS=True, dnsPort="15053"))
    assert conf.env["PROXYINIT_REDIRECT_DNS"] == "1"
    assert conf.env["PROXYINIT_DNS_PORT"] == "15053"
    assert parse(with_(redirectDNS=False)).env["PROXYINIT_REDIRECT_DNS"] == "0"


def test_ecs_era_config_without_optional_keys_parses():
    conf = parse(
        with_(
            cniVersion="0.3.0", ignoredGID=..., appPorts=..., proxyIngressPort=..., prevResult=...
        )
    )
    assert conf.prev_result is None
    assert "APPMESH_APP_PORTS" not in conf.env


def test_version_lists_what_we_speak():
    code, out = cni.run({"CNI_COMMAND": "VERSION"}, lambda: "")
    assert code == 0
    assert json.loads(out) == {
        "cniVersion": "1.0.0",
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0"],
    }


# (case, command, stdin, extra env, CNI error code, words the message must hold)
BAD = [
    ("not_json", "ADD", "{nope", {}, 6, ["not JSON"]),
    ("not_an_object", "ADD", "[1, 2]", {}, 6, ["not a JSON object"]),
    ("no_version", "ADD", with_(cniVersion=...), {}, 7, ["cniVersion=missing"]),
    ("version_number", "ADD", with_(cniVersion=1.0), {}, 7, ["cniVersion=1.0"]),
    ("unknown_version", "ADD", with_(cniVersion="0.2.0"), {}, 1, ["cniVersion='0.2.0'"]),
    ("future_version", "ADD", with_(cniVersion="9.9.9"), {}, 1, ["'9.9.9'", "1.0.0"]),
    ("del_unknown_version", "DEL", with_(cniVersion="2.0.0"), {}, 1, ["'2.0.0'"]),
    ("no_name", "ADD", with_(name=...), {}, 7, ["name=missing"]),
    ("port_as_number", "ADD", with_(proxyEgressPort=15001), {}, 7, ["proxyEgressPort=15001"]),
    ("uid_as_number", "ADD", with_(ignoredUID=1337), {}, 7, ["ignoredUID=1337"]),
    ("list_as_string", "ADD", with_(appPorts="9080"), {}, 7, ['appPorts="9080"', "list"]),
    ("list_item_number", "ADD", with_(appPorts=[9080]), {}, 7, ["appPorts[0]=9080"]),
    (
        "list_item_comma",
        "ADD",
        with_(egressIgnoredPorts=["22,80"]),
        {},
        7,
        ["egressIgnoredPorts[0]"],
    ),
    (
        "list_item_empty",
        "ADD",
        with_(egressIgnoredIPs=["1.2.3.4", ""]),
        {},
        7,
        ["egressIgnoredIPs[1]"],
    ),
    (
        "ipv6_as_string",
        "ADD",
        with_(enableIPv6="true"),
        {},
        7,
        ['enableIPv6="true"', "true or false"],
    ),
    (
        "no_ignored_id",
        "ADD",
        with_(ignoredUID=..., ignoredGID=...),
        {},
        7,
        ["ignoredUID", "ignoredGID"],
    ),
    ("no_egress_port", "ADD", with_(proxyEgressPort=...), {}, 7, ["proxyEgressPort is required"]),
    (
        "ingress_missing",
        "ADD",
        with_(proxyIngressPort=...),
        {},
        7,
        ["proxyIngressPort", "appPorts"],
    ),
    (
        "port_leading_zero",
        "ADD",
        with_(proxyEgressPort="015001"),
        {},
        7,
        ["proxyEgressPort='015001'"],
    ),
    ("port_out_of_range", "ADD", with_(appPorts=["70000"]), {}, 7, ["appPorts=", "70000"]),
    ("envoy_port_in_app", "ADD", with_(appPorts=["15001"]), {}, 7, ["appPorts=15001", "Envoy"]),
    (
        "bad_address",
        "ADD",
        with_(egressIgnoredIPs=["metadata"]),
        {},
        7,
        ["egressIgnoredIPs=", "metadata"],
    ),
    ("dns_as_string", "ADD", with_(redirectDNS="1"), {}, 7, ['redirectDNS="1"', "true or false"]),
    ("dns_port_number", "ADD", with_(dnsPort=15053), {}, 7, ["dnsPort=15053", "string"]),
    ("dns_port_bad", "ADD", with_(redirectDNS=True, dnsPort="0x35"), {}, 7, ["dnsPort='0x35'"]),
    ("dns_port_range", "ADD", with_(dnsPort="65536"), {}, 7, ["dnsPort='65536'"]),
    (
        "dns_port_is_egress",
        "ADD",
        with_(redirectDNS=True, dnsPort="15001"),
        {},
        7,
        ["dnsPort=15001", "proxyEgressPort=15001"],
    ),
    (
        "dns_port_is_ingress",
        "ADD",
        with_(redirectDNS=True, dnsPort="15000"),
        {},
        7,
        ["dnsPort=15000", "proxyIngressPort=15000"],
    ),
    ("dns_typo", "ADD", with_(redirectDns=True), {}, 2, ["did you mean 'redirectDNS'"]),
    ("typo_key", "ADD", with_(appPort=["9080"]), {}, 2, ['"appPort"', "did you mean 'appPorts'"]),
    ("prev_result_string", "ADD", with_(prevResult="x"), {}, 7, ['prevResult="x"']),
    ("check_old_version", "CHECK", with_(cniVersion="0.3.1"), {}, 1, ["CHECK", "0.3.1"]),
    ("check_no_prev", "CHECK", with_(prevResult=...), {}, 7, ["prevResult=missing"]),
    ("unknown_command", "ADDD", with_(), {}, 4, ["CNI_COMMAND='ADDD'"]),
    ("add_without_netns", "ADD", with_(), {"CNI_NETNS": ""}, 4, ["CNI_NETNS"]),
    ("del_without_ifname", "DEL", with_(), {"CNI_IFNAME": ""}, 4, ["CNI_IFNAME"]),
]


@pytest.mark.parametrize(
    ("command", "stdin", "extra", "code", "words"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_input_is_the_specs_error_object(command, stdin, extra, code, words):
    exit_code, out = cni.run({**ENV, "CNI_COMMAND": command, **extra}, lambda: stdin)
    error = json.loads(out)
    assert exit_code == 2, error
    assert error["code"] == code, error
    assert set(error) <= {"cniVersion", "code", "msg", "details"}
    for word in words:
        assert word in error["msg"], error


def test_a_long_bad_value_is_quoted_bounded():
    _, out = cni.run({**ENV, "CNI_COMMAND": "ADD"}, lambda: with_(appPorts="9" * 5000))
    assert "(5002 characters)" in json.loads(out)["msg"]


def test_del_needs_none_of_the_keys_and_a_missing_namespace_is_success():
    # A configuration edited since ADD must not strand rules; the namespace here is gone.
    assert cni.run({**ENV, "CNI_COMMAND": "DEL"}, lambda: with_(appPorts="bad")) == (0, "")
    assert cni.run({**ENV, "CNI_COMMAND": "DEL", "CNI_NETNS": ""}, lambda: with_()) == (0, "")


def test_add_with_a_missing_namespace_names_cni_netns():
    code, out = cni.run({**ENV, "CNI_COMMAND": "ADD"}, lambda: with_())
    error = json.loads(out)
    assert (code, error["code"]) == (2, 4)
    assert "CNI_NETNS" in error["msg"] and NOWHERE in error["msg"]
    assert "--netns" not in error["msg"]


def test_the_process_speaks_cni_on_stdout_when_cni_command_is_set():
    """The real entry point: env + stdin in, error object on stdout, exit 2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPMESH_", "CNI_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "proxyinit"],
        input=with_(cniVersion="0.1.0"),
        env={**env, **ENV, "CNI_COMMAND": "ADD"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["code"] == 1
    assert "cniVersion='0.1.0'" in proc.stderr


@pytest.mark.parametrize("name", ["proxyinit.conflist", "proxyinit-k8s.conflist"])
def test_the_example_conflists_parse(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "cni" / name
    conflist = json.loads(path.read_text())
    ours = conflist["plugins"][-1]
    conf = parse(json.dumps({**ours, "name": conflist["name"], "cniVersion": "1.0.0"}))
    assert conf.env["APPMESH_ENVOY_EGRESS_PORT"] == "15001"
    assert conf.meshed == ("capabilities" not in ours)  # k8s: only annotated pods


def test_unreadable_stdin_is_an_io_error():
    def unreadable() -> str:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    code, out = cni.run({**ENV, "CNI_COMMAND": "ADD"}, unreadable)
    assert (code, json.loads(out)["code"]) == (2, 5)


def test_del_on_an_unmounted_namespace_file_is_success(tmp_path):
    # What a runtime leaves when the namespace's bind mount is gone: an empty regular file.
    leftover = tmp_path / "netns"
    leftover.write_text("")
    environ = {**ENV, "CNI_COMMAND": "DEL", "CNI_NETNS": str(leftover)}
    assert cni.run(environ, lambda: with_()) == (0, "")
