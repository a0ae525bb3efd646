"""`proxyinit inject`: a golden per injection case, idempotence, the Kubernetes OpenAPI schema
(kubernetes-validate, no cluster), and refusals that name the workload."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from proxyinit.errors import ConfigError
from proxyinit.k8s.inject import Options, dump, inject
from proxyinit.k8s.manifests import read_objects
from tests.support.golden import check_golden

DATA = Path(__file__).resolve().parents[1] / "data" / "k8s"
HOWTO = DATA / "howto-k8s.yaml"
GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(p.stem for p in (DATA / "inject").glob("*.yaml"))
OPTIONS = Options(xds_endpoint="proxyinit-cp.mesh-system:15010", image="proxyinit:0.1.0")


def injected(text: str) -> str:
    objs = read_objects("-", io.StringIO(text))
    return dump(inject(objs, read_objects(str(HOWTO)), OPTIONS).docs)


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    check_golden(GOLDEN / f"{case}.yaml", injected((DATA / "inject" / f"{case}.yaml").read_text()))


@pytest.mark.parametrize("case", CASES)
def test_injecting_twice_changes_nothing(case):
    once = injected((DATA / "inject" / f"{case}.yaml").read_text())
    assert injected(once) == once


@pytest.mark.parametrize("case", CASES)
def test_output_is_valid_against_the_kubernetes_openapi_schema(case):
    version = kubernetes_validate.latest_version()
    for doc in yaml.safe_load_all(injected((DATA / "inject" / f"{case}.yaml").read_text())):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_redirector_env_is_what_the_webhook_derived():
    out = list(yaml.safe_load_all(injected((DATA / "inject" / "pod-annotations.yaml").read_text())))
    init = out[0]["spec"]["initContainers"][0]
    env = {e["name"]: e["value"] for e in init["env"]}
    assert env["APPMESH_APP_PORTS"] == "8080,9090"
    assert env["APPMESH_EGRESS_IGNORED_IP"] == "169.254.169.254,169.254.170.2"
    assert env["APPMESH_EGRESS_IGNORED_PORTS"] == "3306"
    assert "NET_ADMIN" in init["securityContext"]["capabilities"]["add"]
    envoy = out[0]["spec"]["containers"][-1]
    sidecar = {e["name"]: e["value"] for e in envoy["env"]}
    assert sidecar["APPMESH_VIRTUAL_NODE_NAME"] == "mesh/howto-mesh/virtualNode/blue_howto"
    assert sidecar["ENVOY_LOG_LEVEL"] == "debug" and sidecar["ENVOY_CONCURRENCY"] == "2"


POD = """
apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: howto
  labels: {app: front}
  annotations: {ANNOTATIONS}
spec:
  containers: [{name: app, image: a:1}]
"""


@pytest.mark.parametrize(
    ("annotations", "words"),
    [
        ('{"appmesh.k8s.aws/ports": "15000"}', ["Pod 'howto/p'", "APPMESH_APP_PORTS", "15000"]),
        (
            '{"appmesh.k8s.aws/egressIgnoredIPs": "10.0.0.0/255.0.0.0"}',
            ["APPMESH_EGRESS_IGNORED_IP"],
        ),
        ('{"appmesh.k8s.aws/sidecarEnv": "A=1,B"}', ["appmesh.k8s.aws/sidecarEnv", "'A=1,B'"]),
        ('{"appmesh.k8s.aws/secretMounts": "s"}', ["appmesh.k8s.aws/secretMounts"]),
    ],
)
def test_bad_annotations_are_refused_naming_pod_and_value(annotations, words):
    with pytest.raises(ConfigError) as err:
        injected(POD.replace("{ANNOTATIONS}", annotations))
    for word in words:
        assert word in str(err.value)


def test_two_matching_virtual_nodes_are_refused_as_the_webhook_did(tmp_path):
    second = tmp_path / "second.yaml"
    second.write_text(
        "apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\n"
        "metadata: {name: front2, namespace: howto}\n"
        "spec: {podSelector: {matchLabels: {app: front}}}\n"
    )
    objs = read_objects(str(DATA / "inject" / "deployment.yaml"))
    with pytest.raises(ConfigError, match="found multiple matching VirtualNodes"):
        inject(objs, [*read_objects(str(HOWTO)), *read_objects(str(second))], OPTIONS)


def test_cli_reads_stdin_and_exits_2_on_bad_input():
    def run(text: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "proxyinit", "inject", "-f", "-", "--mesh", str(HOWTO), *extra],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
        )

    good = run((DATA / "inject" / "deployment.yaml").read_text(), "--xds-endpoint", "cp:15010")
    assert good.returncode == 0, good.stderr
    assert "Deployment 'howto/front': injected" in good.stderr
    assert "mesh/howto-mesh/virtualNode/front_howto" in good.stdout
    bad = run(
        POD.replace("{ANNOTATIONS}", '{"appmesh.k8s.aws/ports": "0x1"}'),
        "--xds-endpoint",
        "cp:15010",
    )
    assert bad.returncode == 2 and bad.stdout == "" and "APPMESH_APP_PORTS" in bad.stderr
    endpoint = run("", "--xds-endpoint", "no port")
    assert endpoint.returncode == 2 and "--xds-endpoint" in endpoint.stderr


def test_a_namespace_not_in_the_input_counts_as_labelled():
    context = [o for o in read_objects(str(HOWTO)) if o.kind != "Namespace"]
    objs = read_objects(str(DATA / "inject" / "deployment.yaml"))
    result = inject(objs, context, OPTIONS)
    assert result.report == [
        "Deployment 'howto/front': injected "
        "(VirtualNode 'howto/front' -> mesh/howto-mesh/virtualNode/front_howto)"
    ]
