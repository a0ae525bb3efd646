"""Envoy bootstrap from the App Mesh env contract: good and bad values."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from proxyinit.errors import ConfigError
from proxyinit.mesh.runtime.bootstrap import (
    build_bootstrap,
    envoy_flags,
    render_bootstrap,
    settings_from_env,
)

ARN = "arn:aws:appmesh:us-west-2:123456789012:mesh/default/virtualNode/colorteller-red-vn"
NODE = "mesh/default/virtualNode/colorteller-red-vn"


def bootstrap(env):
    return build_bootstrap(settings_from_env(env))


def xds_address(doc):
    cluster = doc["static_resources"]["clusters"][0]
    return cluster["type"], cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0][
        "endpoint"
    ]["address"]


def test_defaults_from_the_arn():
    doc = bootstrap({"APPMESH_RESOURCE_ARN": ARN})
    assert doc["node"] == {"id": NODE, "cluster": NODE}
    assert doc["admin"]["address"] == {
        "socket_address": {"address": "127.0.0.1", "port_value": 9901}
    }
    assert doc["admin"]["access_log"][0]["typed_config"]["path"] == "/tmp/envoy_admin_access.log"
    assert doc["dynamic_resources"]["lds_config"]["ads"] == {}
    assert doc["dynamic_resources"]["cds_config"]["ads"] == {}
    ads = doc["dynamic_resources"]["ads_config"]
    assert ads["grpc_services"] == [{"envoy_grpc": {"cluster_name": "xds_cluster"}}]
    assert xds_address(doc) == (
        "STATIC",
        {"socket_address": {"address": "127.0.0.1", "port_value": 15010}},
    )
    cluster = doc["static_resources"]["clusters"][0]
    assert "http2_protocol_options" in str(cluster["typed_extension_protocol_options"])


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"APPMESH_VIRTUAL_NODE_NAME": NODE}, NODE),
        ({"APPMESH_RESOURCE_ARN": ARN, "APPMESH_VIRTUAL_NODE_NAME": NODE}, NODE),
        (
            {
                "APPMESH_RESOURCE_ARN": "arn:aws-cn:appmesh:cn-north-1:123456789012:mesh/m/virtualNode/v"
            },
            "mesh/m/virtualNode/v",
        ),
        # A virtual gateway's Envoy (App Mesh's Envoy image >= 1.15: the gateway's ARN).
        (
            {
                "APPMESH_RESOURCE_ARN": "arn:aws:appmesh:us-west-2:123456789012:mesh/m/virtualGateway/g"
            },
            "mesh/m/virtualGateway/g",
        ),
        # As the App Mesh controller's webhook set it on a gateway pod's Envoy
        # (pkg/inject/virtualgateway_envoy.go): the gateway in APPMESH_VIRTUAL_NODE_NAME.
        ({"APPMESH_VIRTUAL_NODE_NAME": "mesh/m/virtualGateway/g"}, "mesh/m/virtualGateway/g"),
    ],
)
def test_node_id_sources(env, expected):
    assert bootstrap(env)["node"]["id"] == expected


@pytest.mark.parametrize(
    "endpoint, expected",
    [
        (
            "10.0.0.1:9000",
            ("STATIC", {"socket_address": {"address": "10.0.0.1", "port_value": 9000}}),
        ),
        ("[::1]:9000", ("STATIC", {"socket_address": {"address": "::1", "port_value": 9000}})),
        (
            "xds.internal:15010",
            ("STRICT_DNS", {"socket_address": {"address": "xds.internal", "port_value": 15010}}),
        ),
        ("unix:///run/xds.sock", ("STATIC", {"pipe": {"path": "/run/xds.sock"}})),
    ],
)
def test_xds_endpoint_forms(endpoint, expected):
    assert (
        xds_address(
            bootstrap({"APPMESH_VIRTUAL_NODE_NAME": NODE, "APPMESH_XDS_ENDPOINT": endpoint})
        )
        == expected
    )


def test_admin_and_flags_overrides():
    settings = settings_from_env(
        {
            "APPMESH_VIRTUAL_NODE_NAME": NODE,
            "ENVOY_ADMIN_ACCESS_PORT": "19901",
            "ENVOY_ADMIN_ACCESS_ADDRESS": "0.0.0.0",
            "ENVOY_ADMIN_ACCESS_LOG_FILE": "/var/log/admin.log",
            "ENVOY_LOG_LEVEL": "DEBUG",
            "ENVOY_CONCURRENCY": "2",
        }
    )
    doc = build_bootstrap(settings)
    assert doc["admin"]["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 19901}
    assert doc["admin"]["access_log"][0]["typed_config"]["path"] == "/var/log/admin.log"
    assert envoy_flags(settings) == ["--log-level", "debug", "--concurrency", "2"]


@pytest.mark.parametrize(
    "env, message",
    [
        ({}, "APPMESH_RESOURCE_ARN .* is not set"),
        (
            {"APPMESH_RESOURCE_ARN": "arn:aws:ecs:us-west-2:123456789012:mesh/m/virtualNode/v"},
            "APPMESH_RESOURCE_ARN='arn:aws:ecs",
        ),
        (
            {
                "APPMESH_RESOURCE_ARN": "arn:aws:appmesh:us-west-2:123456789012:mesh/m/virtualRouter/r"
            },
            "virtualGateway/<gateway>",
        ),
        (
            {
                "APPMESH_RESOURCE_ARN": "arn:aws:appmesh:us-west-2:123456789012:mesh/m/virtualGateway/g",
                "APPMESH_VIRTUAL_NODE_NAME": "mesh/m/virtualNode/g",
            },
            "name different virtual nodes",
        ),
        (
            {"APPMESH_VIRTUAL_NODE_NAME": "colorteller-red-vn"},
            "APPMESH_VIRTUAL_NODE_NAME='colorteller-red-vn'",
        ),
        (
            {
                "APPMESH_RESOURCE_ARN": ARN,
                "APPMESH_VIRTUAL_NODE_NAME": "mesh/default/virtualNode/other",
            },
            "name different virtual nodes",
        ),
        (
            {"APPMESH_VIRTUAL_NODE_NAME": NODE, "APPMESH_XDS_ENDPOINT": "localhost"},
            "APPMESH_XDS_ENDPOINT='localhost'",
        ),
        (
            {"APPMESH_VIRTUAL_NODE_NAME": NODE, "APPMESH_XDS_ENDPOINT": "h:99999"},
            "port 99999 is outside 1..65535",
        ),
        (
            {"APPMESH_VIRTUAL_NODE_NAME": NODE, "APPMESH_XDS_ENDPOINT": "unix://rel.sock"},
            "unix:///ABSOLUTE/PATH",
        ),
        # One strict number parser everywhere (proxyinit.contract): int() would take these.
        (
            {"APPMESH_VIRTUAL_NODE_NAME": NODE, "ENVOY_ADMIN_ACCESS_PORT": "\u00b2"},
            "ENVOY_ADMIN_ACCESS_PORT='\u00b2'",
        ),
        (
            {
                "APPMESH_VIRTUAL_NODE_NAME": NODE,
                "ENVOY_ADMIN_ACCESS_PORT": "\uff19\uff19\uff10\uff11",
            },
            "ENVOY_ADMIN_ACCESS_PORT=",
        ),
        (
            {"APPMESH_VIRTUAL_NODE_NAME": NODE, "APPMESH_XDS_ENDPOINT": "127.0.0.1:1_5010"},
            "APPMESH_XDS_ENDPOINT='127.0.0.1:1_5010': port '1_5010' is not a number",
        ),
        (
            {"APPMESH_VIRTUAL_NODE_NAME": NODE, "APPMESH_XDS_ENDPOINT": "127.0.0.1:\u0661\u0665"},
            "is not a number",
        ),
        (
            {"APPMESH_VIRTUAL_NODE_NAME": NODE, "APPMESH_XDS_ENDPOINT": "127.0.0.1:015010"},
            "leading zero",
        ),
        (
            {"APPMESH_VIRTUAL_NODE_NAME": NODE, "ENVOY_ADMIN_ACCESS_PORT": "http"},
            "ENVOY_ADMIN_ACCESS_PORT='http'",
        ),
        (
            {"APPMESH_VIRTUAL_NODE_NAME": NODE, "ENVOY_ADMIN_ACCESS_PORT": "70000"},
            "ENVOY_ADMIN_ACCESS_PORT='70000'",
        ),
        (
            {"APPMESH_VIRTUAL_NODE_NAME": NODE, "ENVOY_ADMIN_ACCESS_ADDRESS": "any"},
            "ENVOY_ADMIN_ACCESS_ADDRESS='any'",
        ),
        (
            {"APPMESH_VIRTUAL_NODE_NAME": NODE, "ENVOY_ADMIN_ACCESS_LOG_FILE": "log.txt"},
            "ENVOY_ADMIN_ACCESS_LOG_FILE='log.txt'",
        ),
        ({"APPMESH_VIRTUAL_NODE_NAME": NODE, "ENVOY_LOG_LEVEL": "loud"}, "ENVOY_LOG_LEVEL='loud'"),
        ({"APPMESH_VIRTUAL_NODE_NAME": NODE, "ENVOY_CONCURRENCY": "0"}, "ENVOY_CONCURRENCY='0'"),
        ({"APPMESH_VIRTUAL_NODE_NAME": NODE, "ENVOY_CONCURRENCY": "-1"}, "ENVOY_CONCURRENCY='-1'"),
    ],
)
def test_bad_env_names_the_variable_and_value(env, message):
    with pytest.raises(ConfigError, match=message):
        settings_from_env(env)


def test_rendered_yaml_round_trips():
    settings = settings_from_env({"APPMESH_RESOURCE_ARN": ARN})
    assert yaml.safe_load(render_bootstrap(settings)) == build_bootstrap(settings)


def run_cli(args, env):
    return subprocess.run(
        [sys.executable, "-m", "proxyinit", *args], env=env, capture_output=True, text=True
    )


def test_cli_writes_file_and_exits_2_on_bad_env(tmp_path):
    out = tmp_path / "envoy.yaml"
    ok = run_cli(["envoy-bootstrap", "-o", str(out)], {"APPMESH_RESOURCE_ARN": ARN})
    assert ok.returncode == 0, ok.stderr
    assert yaml.safe_load(out.read_text())["node"]["id"] == NODE
    bad = run_cli(["envoy-bootstrap"], {"APPMESH_VIRTUAL_NODE_NAME": "nope"})
    assert bad.returncode == 2
    assert "APPMESH_VIRTUAL_NODE_NAME='nope'" in bad.stderr


def test_cli_bootstraps_a_virtual_gateways_envoy(tmp_path):
    """`envoy-bootstrap` (and so `envoy-run`) for a gateway task: App Mesh's gateway ARN."""
    out = tmp_path / "envoy.yaml"
    arn = "arn:aws:appmesh:us-west-2:123456789012:mesh/default/virtualGateway/colorapp-gw"
    ok = run_cli(["envoy-bootstrap", "-o", str(out)], {"APPMESH_RESOURCE_ARN": arn})
    assert ok.returncode == 0, ok.stderr
    node = yaml.safe_load(out.read_text())["node"]
    assert node == {"id": "mesh/default/virtualGateway/colorapp-gw", "cluster": node["id"]}


def test_cli_modules_import_stdlib_only():
    """Building the whole parser (every subcommand) imports nothing heavy."""
    code = (
        "import sys; from proxyinit.cli import build_parser; build_parser();"
        "heavy = [m for m in ('grpc', 'google.protobuf', 'yaml', 'pydantic', 'iptc') if m in sys.modules];"
        "print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_envoy_run_execs_envoy_with_the_bootstrap_and_flags(tmp_path):
    """`/bin/echo` stands in for Envoy: the exec'd argv and the written bootstrap are checked."""
    bootstrap_file = tmp_path / "envoy.yaml"
    tmp_path.chmod(0o755)
    env = {"APPMESH_RESOURCE_ARN": ARN, "ENVOY_CONCURRENCY": "2"}
    result = run_cli(
        [
            "envoy-run",
            "--bootstrap",
            str(bootstrap_file),
            "--envoy-binary",
            "/bin/echo",
            "--",
            "--component-log-level",
            "upstream:debug",
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "-c",
        str(bootstrap_file),
        "--disable-hot-restart",
        "--log-level",
        "info",
        "--concurrency",
        "2",
        "--component-log-level",
        "upstream:debug",
    ]
    assert yaml.safe_load(bootstrap_file.read_text())["node"]["id"] == NODE


def test_envoy_run_refuses_bad_env_with_exit_2():
    result = run_cli(["envoy-run", "--envoy-binary", "/bin/echo"], {"APPMESH_XDS_ENDPOINT": "x"})
    assert result.returncode == 2 and "APPMESH_RESOURCE_ARN" in result.stderr


def test_a_comma_list_of_control_planes_is_one_cluster_with_each():
    """Replicas: Envoy lists every control plane, so it reconnects to another when one dies."""
    doc = bootstrap(
        {"APPMESH_VIRTUAL_NODE_NAME": NODE, "APPMESH_XDS_ENDPOINT": "10.0.0.1:15010, [::1]:15011"}
    )
    cluster = doc["static_resources"]["clusters"][0]
    endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [e["endpoint"]["address"]["socket_address"] for e in endpoints] == [
        {"address": "10.0.0.1", "port_value": 15010},
        {"address": "::1", "port_value": 15011},
    ]
    assert cluster["type"] == "STATIC"
    grpc = doc["dynamic_resources"]["ads_config"]["grpc_services"][0]["envoy_grpc"]
    assert grpc["cluster_name"] == "xds_cluster" and "retry_policy" in grpc  # quick failover
    named = bootstrap(
        {"APPMESH_VIRTUAL_NODE_NAME": NODE, "APPMESH_XDS_ENDPOINT": "a.internal:1,10.0.0.1:2"}
    )
    assert named["static_resources"]["clusters"][0]["type"] == "STRICT_DNS"


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "127.0.0.1:15010,localhost",
            r"APPMESH_XDS_ENDPOINT='localhost': expected HOST:PORT.*"
            r"element 2 of APPMESH_XDS_ENDPOINT='127.0.0.1:15010,localhost'",
        ),
        ("127.0.0.1:15010,", r"APPMESH_XDS_ENDPOINT='127.0.0.1:15010,': element 2 is empty"),
        ("h:1,h:1", r"APPMESH_XDS_ENDPOINT='h:1,h:1': 'h:1' is listed twice"),
        ("h:1,unix:///run/x.sock", r"a unix socket cannot be listed with other addresses"),
        ("h:1,h:0", r"APPMESH_XDS_ENDPOINT='h:0'.*element 2"),
    ],
)
def test_a_bad_element_of_the_list_is_named(value, message):
    with pytest.raises(ConfigError, match=message):
        settings_from_env({"APPMESH_VIRTUAL_NODE_NAME": NODE, "APPMESH_XDS_ENDPOINT": value})


def test_a_bad_list_element_exits_2():
    result = run_cli(
        ["envoy-bootstrap"], {"APPMESH_VIRTUAL_NODE_NAME": NODE, "APPMESH_XDS_ENDPOINT": "h:1,bad"}
    )
    assert result.returncode == 2 and "APPMESH_XDS_ENDPOINT='bad'" in result.stderr
