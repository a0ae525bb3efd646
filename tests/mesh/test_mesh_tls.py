"""TLS in the model and the translation (issue 9), without Envoy: what App Mesh's API refused
(botocore shapes: unions, required members, enums, bounds), how `enforce` and `ports` select the
clusters that originate TLS, that secrets go only to the node whose spec names them, and the
`--certs` directory. The behaviour through real Envoys is tests/xds/test_xds_tls_envoy.py."""

from __future__ import annotations

import copy

import pytest

from proxyinit.contract import NodeId
from proxyinit.controlplane.certs import CertificateDirectory, certificate_ids
from proxyinit.controlplane.publisher import SnapshotPublisher
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds.cache import SnapshotCache
from proxyinit.xds.debug import debug_state
from proxyinit.xds.server import StreamRegistry
from proxyinit.xds.snapshot import Snapshot
from proxyinit.xds.types import CLUSTER, LISTENER, SECRET
from tests.mesh.mesh_scenarios import MESH, find, scenario_resources

TELLER = "VirtualNode 'colorteller-vn'"
GATEWAY = NodeId(MESH, "colorgateway-vn")
ARN = "arn:aws:acm:us-west-2:111122223333:certificate/abc-123"
PCA = "arn:aws:acm-pca:us-west-2:111122223333:certificate-authority/ca-9"


def _tls(r) -> dict:
    return find(r, virtualNodeName="colorteller-vn")["spec"]["listeners"][0]["tls"]


def _policy(r) -> dict:
    spec = find(r, virtualNodeName="colorgateway-vn")["spec"]
    return spec["backendDefaults"]["clientPolicy"]["tls"]


REFUSALS = [
    ("mode", lambda r: _tls(r).update(mode="ON"), ["spec.listeners[0].tls.mode", "ON"]),
    ("no-certificate", lambda r: _tls(r).pop("certificate"), ["tls.certificate"]),
    (
        "two-certificates",
        lambda r: _tls(r)["certificate"].update(sds={"secretName": "x"}),
        ["give exactly one of ['acm', 'file', 'sds'] in certificate"],
    ),
    (
        "listener-trust-acm",  # ListenerTlsValidationContextTrust: file or sds only
        lambda r: _tls(r)["validation"].update(trust={"acm": {"certificateAuthorityArns": [PCA]}}),
        ["tls.validation.trust.acm"],
    ),
    (
        "file-without-key",
        lambda r: _tls(r)["certificate"]["file"].pop("privateKey"),
        ["certificate.file.privateKey"],
    ),
    (
        "empty-path",
        lambda r: _tls(r)["certificate"]["file"].update(certificateChain=""),
        ["certificate.file.certificateChain"],
    ),
    (
        "too-many-pcas",  # CertificateAuthorityArns: 1..3
        lambda r: _policy(r)["validation"].update(
            trust={"acm": {"certificateAuthorityArns": [PCA] * 4}}
        ),
        ["certificateAuthorityArns"],
    ),
    (
        "policy-without-validation",  # ClientPolicyTls.validation is required
        lambda r: _policy(r).pop("validation"),
        ["clientPolicy.tls.validation"],
    ),
    (
        "client-acm-certificate",  # ClientTlsCertificate: file or sds
        lambda r: _policy(r).update(certificate={"acm": {"certificateArn": ARN}}),
        ["clientPolicy.tls.certificate.acm"],
    ),
    ("bad-port", lambda r: _policy(r).update(ports=[0]), ["clientPolicy.tls.ports", "0"]),
    ("enforce-string", lambda r: _policy(r).update(enforce="true"), ["enforce"]),
    (
        "san-too-long",
        lambda r: _tls(r)["validation"]["subjectAlternativeNames"]["match"].update(
            exact=["x" * 255]
        ),
        ["subjectAlternativeNames"],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_tls_refusals_name_the_field(mutate, expected):
    resources = scenario_resources("tls")
    mutate(resources)
    with pytest.raises(ConfigError) as caught:
        parse_resources(resources)
    for part in expected:
        assert part in str(caught.value), str(caught.value)
    assert caught.value.exit_code == 2


def _gateway_clusters(mutate=None, certificates=None) -> dict:
    resources = scenario_resources("tls")
    if mutate is not None:
        mutate(resources)
    model = parse_resources(resources)[MESH]
    out = translate_node(model, GATEWAY, certificates)
    return {c.name: c for c in out[CLUSTER]}


def test_client_policy_ports_select_the_clusters_that_originate_tls():
    clusters = _gateway_clusters()
    tls = {name for name, c in clusters.items() if c.HasField("transport_socket")}
    # ports [9080]: the tellers (9080) originate TLS; nothing else does.
    assert tls and all("_http_9080_tls_" in name for name in tls), sorted(clusters)
    other = _gateway_clusters(lambda r: _policy(r).update(ports=[9999]))
    assert not any(c.HasField("transport_socket") for c in other.values())


def test_client_policy_not_enforced_stays_plaintext():
    clusters = _gateway_clusters(lambda r: _policy(r).update(enforce=False))
    assert not any(c.HasField("transport_socket") for c in clusters.values())


def test_a_backend_policy_wins_over_backend_defaults():
    def mutate(r):
        spec = find(r, virtualNodeName="colorgateway-vn")["spec"]
        policy = copy.deepcopy(spec["backendDefaults"]["clientPolicy"])
        policy["tls"]["enforce"] = False
        for backend in spec["backends"]:
            backend["virtualService"]["clientPolicy"] = policy

    clusters = _gateway_clusters(mutate)
    assert not any(c.HasField("transport_socket") for c in clusters.values())


def test_unserved_client_certificate_fails_closed_with_no_endpoints():
    def mutate(r):
        _policy(r)["certificate"] = {"sds": {"secretName": "gateway-client"}}

    clusters = _gateway_clusters(mutate)
    tls = [c for name, c in clusters.items() if "_tls_" in name]
    assert tls and all(not c.load_assignment.endpoints for c in tls)
    assert all(not c.HasField("transport_socket") for c in tls)


def test_secrets_go_only_to_the_node_whose_spec_names_them():
    resources = scenario_resources("tls")
    _tls(resources)["certificate"] = {"acm": {"certificateArn": ARN}}
    _tls(resources)["validation"]["trust"] = {"sds": {"secretName": "mesh-ca"}}
    model = parse_resources(resources)[MESH]
    certificates = {"abc-123": (b"CHAIN", b"KEY"), "mesh-ca": (b"CA", None), "other": (b"X", b"Y")}
    teller = translate_node(model, NodeId(MESH, "colorteller-vn"), certificates)
    assert [s.name for s in teller[SECRET]] == ["certificate/abc-123", "trust/mesh-ca"]
    Snapshot(teller)  # consistent: every SDS name it references is in it
    for name in model.nodes:
        if name != "colorteller-vn":
            assert SECRET not in translate_node(model, NodeId(MESH, name), certificates), name


def test_a_certificate_without_its_key_is_not_served():
    resources = scenario_resources("tls")
    _tls(resources)["certificate"] = {"acm": {"certificateArn": ARN}}
    model = parse_resources(resources)[MESH]
    out = translate_node(model, NodeId(MESH, "colorteller-vn"), {"abc-123": (b"CHAIN", None)})
    assert SECRET not in out
    (ingress,) = [x for x in out[LISTENER] if "ingress" in x.name]
    assert any(c.name == "ingress_tls_unavailable_9080" for c in ingress.filter_chains)


def test_certs_directory_reads_pem_and_key_and_names_what_is_missing(tmp_path):
    (tmp_path / "abc-123.pem").write_bytes(b"CHAIN")
    (tmp_path / "abc-123.key").write_bytes(b"KEY")
    (tmp_path / "ca-9.pem").write_bytes(b"CA")
    (tmp_path / "notes.txt").write_bytes(b"ignored")
    directory = CertificateDirectory(tmp_path)
    available = directory.load()
    assert available == {"abc-123": (b"CHAIN", b"KEY"), "ca-9": (b"CA", None)}
    resources = scenario_resources("tls")
    _tls(resources)["certificate"] = {"acm": {"certificateArn": ARN}}
    model = parse_resources(resources)[MESH]
    missing = directory.report_missing(model, available)
    assert list(missing) == [f"mesh/{MESH}/virtualNode/colorteller-red-vn"]
    assert "'red' has no red.pem" in missing[f"mesh/{MESH}/virtualNode/colorteller-red-vn"][0]


def test_a_certificate_that_is_not_there_is_shown_on_the_debug_endpoint(tmp_path):
    publisher = SnapshotPublisher(SnapshotCache(), certificates=CertificateDirectory(tmp_path))
    publisher.replace({MESH: parse_resources(scenario_resources("tls"))[MESH]})
    state = debug_state(publisher.cache, StreamRegistry(), publisher.problems())
    red = state["nodes"][f"mesh/{MESH}/virtualNode/colorteller-red-vn"]
    assert "'red' has no red.pem" in red["problems"][0] and "fail closed" in red["problems"][0]
    assert "problems" not in state["nodes"][f"mesh/{MESH}/virtualNode/colorteller-vn"]


def test_certificate_ids_of_a_spec():
    spec = {
        "listeners": [{"tls": {"certificate": {"acm": {"certificateArn": ARN}}}}],
        "backendDefaults": {
            "clientPolicy": {
                "tls": {
                    "certificate": {"sds": {"secretName": "client"}},
                    "validation": {"trust": {"acm": {"certificateAuthorityArns": [PCA]}}},
                }
            }
        },
    }
    assert sorted(certificate_ids(spec)) == ["abc-123", "ca-9", "client"]


def test_certs_must_be_a_directory(tmp_path):
    with pytest.raises(ConfigError, match="--certs"):
        CertificateDirectory(tmp_path / "nope")
