"""TLS fields (issue 9) through the real aws CLI and a real server, as App Mesh's howto-tls-*
and howto-mutual-tls-* walkthroughs call them: listener `tls` with file, sds and ACM
certificates and validation; backend and default client policies with file, sds and ACM-PCA
trust. What App Mesh accepted is described back unchanged; what the server refuses (the aws CLI
does not check it) is a BadRequestException naming the field."""

from __future__ import annotations

import json

import pytest

MESH = "tls"
CA = "arn:aws:acm-pca:us-west-2:111122223333:certificate-authority/ca-1"
CERT = "arn:aws:acm:us-west-2:111122223333:certificate/cert-1"
VALIDATION = {
    "trust": {"file": {"certificateChain": "/keys/ca_cert.pem"}},
    "subjectAlternativeNames": {"match": {"exact": ["front.tls.local"]}},
}


def _spec(tls: dict, **extra) -> dict:
    return {
        "listeners": [{"portMapping": {"port": 9080, "protocol": "http"}, "tls": tls}],
        "serviceDiscovery": {"dns": {"hostname": "color.tls.local"}},
        **extra,
    }


@pytest.fixture(scope="module")
def tls_server(shared_server):
    shared_server.aws("create-mesh", "--mesh-name", MESH)
    return shared_server


@pytest.mark.parametrize(
    ("name", "tls"),
    [
        (
            "file-vn",  # howto-mutual-tls-file-provided
            {
                "mode": "STRICT",
                "certificate": {
                    "file": {
                        "certificateChain": "/keys/color_cert_chain.pem",
                        "privateKey": "/keys/color_key.pem",
                    }
                },
                "validation": VALIDATION,
            },
        ),
        ("sds-vn", {"mode": "PERMISSIVE", "certificate": {"sds": {"secretName": "color"}}}),
        ("acm-vn", {"mode": "STRICT", "certificate": {"acm": {"certificateArn": CERT}}}),
        ("off-vn", {"mode": "DISABLED", "certificate": {"sds": {"secretName": "color"}}}),
    ],
)
def test_listener_tls_is_accepted_and_described(tls_server, name, tls):
    spec = _spec(tls)
    created = tls_server.create_node(MESH, name, spec).json["virtualNode"]["spec"]
    assert created["listeners"] == spec["listeners"]
    described = tls_server.aws(
        "describe-virtual-node", "--mesh-name", MESH, "--virtual-node-name", name
    ).json["virtualNode"]
    assert described["spec"] == created


def test_client_policies_are_accepted_and_described(tls_server):
    default = {
        "tls": {
            "enforce": True,
            "ports": [9080],
            "certificate": {"sds": {"secretName": "front"}},
            "validation": {"trust": {"acm": {"certificateAuthorityArns": [CA]}}},
        }
    }
    backend = {
        "virtualService": {
            "virtualServiceName": "color.tls.local",
            "clientPolicy": {"tls": {"validation": VALIDATION}},
        }
    }
    spec = {"backendDefaults": {"clientPolicy": default}, "backends": [backend]}
    created = tls_server.create_node(MESH, "front-vn", spec).json["virtualNode"]
    # `enforce` defaults to true (ClientPolicyTls): the server says so when it describes.
    backend["virtualService"]["clientPolicy"]["tls"]["enforce"] = True
    assert created["spec"]["backends"] == [backend]
    assert created["spec"]["backendDefaults"] == {"clientPolicy": default}


def test_server_side_refusals_name_the_field(tls_server):
    spec = _spec({"mode": "STRICT", "certificate": {"sds": {"secretName": "color"}}})
    spec["backendDefaults"] = {
        "clientPolicy": {"tls": {"ports": [70000], "validation": VALIDATION}}
    }
    result = tls_server.create_node(MESH, "bad-vn", spec, check=False)
    assert result.returncode != 0
    assert "BadRequestException" in result.stderr and "ports" in result.stderr, result.stderr


def test_a_certificate_missing_from_certs_is_the_status_reason_and_a_debug_problem(tmp_path):
    import urllib.request

    from tests.api.conftest import Server

    certs = tmp_path / "certs"
    certs.mkdir()
    server = Server(tmp_path / "mesh.db", extra_args=["--certs", str(certs)])
    server.start()
    try:
        server.aws("create-mesh", "--mesh-name", MESH)
        tls = {"mode": "STRICT", "certificate": {"acm": {"certificateArn": CERT}}}
        server.create_node(MESH, "acm-vn", _spec(tls))
        url = f"{server.url}/v20190125/meshes/{MESH}/virtualNodes/acm-vn"
        with urllib.request.urlopen(url, timeout=10) as response:
            status = json.load(response)["status"]
        node = server.debug_state()["nodes"][f"mesh/{MESH}/virtualNode/acm-vn"]
    finally:
        server.stop()
    assert status["status"] == "ACTIVE"
    assert "'cert-1' has no cert-1.pem" in status["reason"], status
    assert "fail closed" in node["problems"][0], node
