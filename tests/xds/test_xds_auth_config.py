"""Issue 11 part 2, configuration: `envoy-bootstrap`'s APPMESH_XDS_TLS_* / APPMESH_XDS_TOKEN_FILE
(the xds cluster's UpstreamTlsContext, the token in `initial_metadata`, a 0600 bootstrap) and
`xds serve`'s --xds-* flags: bad input is exit 2 naming the variable or flag and the value."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from proxyinit.errors import ConfigError
from proxyinit.mesh.runtime.bootstrap import build_bootstrap, settings_from_env
from tests.support.certs import TestCa
from tests.support.serve import proxyinit_command, run

ARN = "arn:aws:appmesh:us-west-2:123456789012:mesh/auth/virtualNode/a-vn"
NODE = "mesh/auth/virtualNode/a-vn"
TOKEN = "token-of-node-a-0123456789"


@pytest.fixture
def files(tmp_path) -> dict[str, str]:
    ca = TestCa(tmp_path)
    leaf = ca.leaf("a", "a.test")
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    return {"ca": str(ca.path), "cert": str(leaf.chain), "key": str(leaf.key), "token": str(token)}


def xds_of(env: dict) -> tuple[dict, dict]:
    doc = build_bootstrap(settings_from_env({"APPMESH_RESOURCE_ARN": ARN, **env}))
    return doc["static_resources"]["clusters"][0], doc["dynamic_resources"]["ads_config"]


def tls_of(cluster: dict) -> dict:
    socket = cluster["transport_socket"]
    assert socket["name"] == "envoy.transport_sockets.tls"
    return socket["typed_config"]


def test_no_variables_plaintext_as_before():
    cluster, ads = xds_of({})
    assert "transport_socket" not in cluster
    assert ads["grpc_services"] == [{"envoy_grpc": {"cluster_name": "xds_cluster"}}]


def test_ca_alone_verifies_the_server_by_its_address(files):
    cluster, _ = xds_of({"APPMESH_XDS_TLS_CA": files["ca"]})
    context = tls_of(cluster)
    assert "sni" not in context  # an IP literal is no SNI
    common = context["common_tls_context"]
    assert common["alpn_protocols"] == ["h2"] and "tls_certificates" not in common
    assert common["validation_context"] == {
        "trusted_ca": {"filename": files["ca"]},
        "match_typed_subject_alt_names": [
            {"san_type": "IP_ADDRESS", "matcher": {"exact": "127.0.0.1"}}
        ],
    }


def test_mutual_tls_with_a_server_name_and_a_token(files):
    cluster, ads = xds_of(
        {
            "APPMESH_XDS_ENDPOINT": "xds.example:15010",
            "APPMESH_XDS_TLS_CA": files["ca"],
            "APPMESH_XDS_TLS_CERT": files["cert"],
            "APPMESH_XDS_TLS_KEY": files["key"],
            "APPMESH_XDS_TLS_SERVER_NAME": "cp.mesh.internal",
            "APPMESH_XDS_TOKEN_FILE": files["token"],
        }
    )
    context = tls_of(cluster)
    assert context["sni"] == "cp.mesh.internal"
    common = context["common_tls_context"]
    assert common["tls_certificates"] == [
        {
            "certificate_chain": {"filename": files["cert"]},
            "private_key": {"filename": files["key"]},
        }
    ]
    assert common["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "cp.mesh.internal"}}
    ]
    assert ads["grpc_services"][0]["initial_metadata"] == [
        {"key": "authorization", "value": f"Bearer {TOKEN}"}
    ]


def test_a_hostname_endpoint_is_the_default_server_name(files):
    cluster, _ = xds_of(
        {"APPMESH_XDS_ENDPOINT": "xds.example:15010", "APPMESH_XDS_TLS_CA": files["ca"]}
    )
    context = tls_of(cluster)
    assert context["sni"] == "xds.example"
    assert context["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "xds.example"}}
    ]


def test_replicas_over_tls_accept_any_replica_name_and_send_no_guessed_sni(files):
    cluster, ads = xds_of(
        {
            "APPMESH_XDS_ENDPOINT": "cp-a.example:15010,cp-b.example:15010,198.18.0.7:15010",
            "APPMESH_XDS_TLS_CA": files["ca"],
            "APPMESH_XDS_TOKEN_FILE": files["token"],
        }
    )
    context = tls_of(cluster)
    assert "sni" not in context  # two host names: no one SNI fits every replica
    assert context["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "cp-a.example"}},
        {"san_type": "DNS", "matcher": {"exact": "cp-b.example"}},
        {"san_type": "IP_ADDRESS", "matcher": {"exact": "198.18.0.7"}},
    ]
    assert len(cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]) == 3
    service = ads["grpc_services"][0]
    assert service["envoy_grpc"]["retry_policy"] and service["initial_metadata"]


@pytest.mark.parametrize(
    "env, message",
    [
        ({"APPMESH_XDS_TLS_CA": "/nonexistent/ca.pem"}, "APPMESH_XDS_TLS_CA='/nonexistent/ca.pem': no such file"),
        ({"APPMESH_XDS_TLS_CA": "ca.pem"}, "APPMESH_XDS_TLS_CA='ca.pem': expected an absolute path"),
        ({"APPMESH_XDS_TLS_CA": "{ca}", "APPMESH_XDS_TLS_CERT": "{cert}"}, "APPMESH_XDS_TLS_CERT='{cert}' without APPMESH_XDS_TLS_KEY"),
        ({"APPMESH_XDS_TLS_CA": "{ca}", "APPMESH_XDS_TLS_KEY": "{key}"}, "APPMESH_XDS_TLS_KEY='{key}' without APPMESH_XDS_TLS_CERT"),
        ({"APPMESH_XDS_TLS_CERT": "{cert}", "APPMESH_XDS_TLS_KEY": "{key}"}, "APPMESH_XDS_TLS_CERT='{cert}' without APPMESH_XDS_TLS_CA"),
        ({"APPMESH_XDS_TLS_SERVER_NAME": "cp.local"}, "APPMESH_XDS_TLS_SERVER_NAME='cp.local' without APPMESH_XDS_TLS_CA"),
        ({"APPMESH_XDS_TLS_CA": "{ca}", "APPMESH_XDS_TLS_SERVER_NAME": "a b"}, "APPMESH_XDS_TLS_SERVER_NAME='a b': expected a DNS name"),
        ({"APPMESH_XDS_TOKEN_FILE": "/nonexistent/token"}, "APPMESH_XDS_TOKEN_FILE='/nonexistent/token': no such file"),
        ({"APPMESH_XDS_TOKEN_FILE": "{empty}"}, "APPMESH_XDS_TOKEN_FILE='{empty}': expected one token"),
    ],
)  # fmt: skip
def test_bad_variables_name_the_variable_and_value(tmp_path, files, env, message):
    (tmp_path / "empty").write_text("\n")
    values = {**files, "empty": str(tmp_path / "empty")}
    env = {name: value.format(**values) for name, value in env.items()}
    with pytest.raises(ConfigError) as caught:
        settings_from_env({"APPMESH_RESOURCE_ARN": ARN, **env})
    assert message.format(**values) in str(caught.value)


def run_proxyinit(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return run(proxyinit_command(*args), env=env)


def test_a_bootstrap_carrying_a_token_is_written_0600(tmp_path, files):
    out = tmp_path / "envoy.yaml"
    env = {"APPMESH_RESOURCE_ARN": ARN, "APPMESH_XDS_TOKEN_FILE": files["token"]}
    result = run_proxyinit(["envoy-bootstrap", "-o", str(out)], env)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert TOKEN in out.read_text()
    bad = run_proxyinit(["envoy-bootstrap"], {**env, "APPMESH_XDS_TLS_CA": "/nope.pem"})
    assert bad.returncode == 2 and "APPMESH_XDS_TLS_CA='/nope.pem': no such file" in bad.stderr


def serve_args(tmp_path: Path, *more: str) -> list[str]:
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text("- meshName: auth\n")
    return ["xds", "serve", "--mesh-file", str(mesh_file), *more]


@pytest.mark.parametrize(
    "flags, message",
    [
        # 198.18.0.1 is on no interface here: even a wrong acceptance could not bind it.
        (["--xds", "198.18.0.1:0", "--certs", "{tmp}"], "--certs {tmp!r} with --xds 198.18.0.1:0 (not loopback) and neither --xds-client-ca nor --xds-tokens"),
        (["--xds-tokens", "{tokens}"], "--xds-tokens {tokens!r} line 2: expected `NODE_ID TOKEN`"),
        (["--xds-tokens", "{tmp}/none"], "--xds-tokens '{tmp}/none': cannot read it"),
        (["--xds-tls-cert", "{tmp}/none.pem", "--xds-tls-key", "{key}"], "--xds-tls-cert '{tmp}/none.pem': cannot read it"),
        (["--xds-tls-cert", "{key}", "--xds-tls-key", "{key}"], "--xds-tls-cert {key!r}: not a PEM file with a CERTIFICATE"),
        (["--xds-tls-cert", "{cert}"], "--xds-tls-cert and --xds-tls-key: give both or neither"),
        (["--xds-client-ca", "{ca}"], "--xds-client-ca needs --xds-tls-cert and --xds-tls-key"),
        (["--xds-trust-domain", "td.test"], "--xds-trust-domain='td.test' needs --xds-client-ca"),
        (["--xds-tls-cert", "{cert}", "--xds-tls-key", "{key}", "--xds-client-ca", "{ca}", "--xds-trust-domain", "TD!"], "--xds-trust-domain='TD!': expected a SPIFFE trust domain"),
    ],
)  # fmt: skip
def test_serve_refuses_bad_authentication_flags_with_exit_2(tmp_path, files, flags, message):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# node token\n{NODE}\n")
    values = {**files, "tmp": str(tmp_path), "tokens": str(tokens)}
    result = run_proxyinit(serve_args(tmp_path, *(f.format(**values) for f in flags)))
    assert result.returncode == 2, result.stderr
    assert message.format(**values) in result.stderr


def test_the_bootstrap_yaml_is_what_envoy_reads(files):
    from proxyinit.mesh.runtime.bootstrap import render_bootstrap

    settings = settings_from_env(
        {"APPMESH_RESOURCE_ARN": ARN, "APPMESH_XDS_TLS_CA": files["ca"], "APPMESH_XDS_TOKEN_FILE": files["token"]}
    )  # fmt: skip
    assert settings.file_mode == 0o600
    assert yaml.safe_load(render_bootstrap(settings)) == build_bootstrap(settings)
