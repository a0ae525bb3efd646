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
GATEWAY = DATA / "howto-gateway.yaml"
GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(p.stem for p in (DATA / "inject").glob("*.yaml"))
OPTIONS = Options(xds_endpoint="proxyinit-cp.mesh-system:15010", image="proxyinit:0.1.0")


def injected(text: str) -> str:
    objs = read_objects("-", io.StringIO(text))
    context = [*read_objects(str(HOWTO)), *read_objects(str(GATEWAY))]
    return dump(inject(objs, context, OPTIONS).docs)


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


def test_the_redirect_dns_annotation_turns_dns_capture_on():
    out = list(yaml.safe_load_all(injected((DATA / "inject" / "redirect-dns.yaml").read_text())))
    envs = [
        {e["name"]: e["value"] for e in spec["initContainers"][0]["env"]}
        for spec in (out[0]["spec"]["template"]["spec"], out[1]["spec"])
    ]
    assert envs[0]["PROXYINIT_REDIRECT_DNS"] == "1"
    assert "PROXYINIT_REDIRECT_DNS" not in envs[1]  # disabled: the redirector's default


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
        (
            '{"proxyinit/redirectDNS": "yes"}',
            ["Pod 'howto/p'", "proxyinit/redirectDNS='yes'", "enabled or disabled"],
        ),
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


def test_a_gateway_pod_gets_the_gateways_envoy_and_no_init_container():
    out = list(yaml.safe_load_all(injected((DATA / "inject" / "gateway.yaml").read_text())))
    spec = out[0]["spec"]["template"]["spec"]
    assert "initContainers" not in spec
    [envoy] = spec["containers"]
    assert envoy["image"] == "proxyinit:0.1.0" and envoy["args"] == ["envoy-run"]
    env = {e["name"]: e["value"] for e in envoy["env"]}
    # As the webhook's template: the gateway in APPMESH_VIRTUAL_NODE_NAME, the user's env kept.
    assert env == {
        "ENVOY_LOG_LEVEL": "debug",
        "APPMESH_VIRTUAL_NODE_NAME": "mesh/howto-mesh/virtualGateway/ingress-gw_howto",
        "APPMESH_XDS_ENDPOINT": "proxyinit-cp.mesh-system:15010",
    }
    own = out[1]["spec"]["containers"][0]
    assert own["image"] == "registry.example.com/proxyinit:custom"
    assert own["readinessProbe"] == {"tcpSocket": {"port": 8088}}
    assert out[2]["spec"]["template"]["spec"]["containers"][0]["name"] == "envoy"


def test_the_gateway_env_bootstraps_the_gateways_envoy():
    from proxyinit.mesh.runtime.bootstrap import settings_from_env

    out = next(yaml.safe_load_all(injected((DATA / "inject" / "gateway.yaml").read_text())))
    envoy = out["spec"]["template"]["spec"]["containers"][0]
    settings = settings_from_env({e["name"]: e["value"] for e in envoy["env"]})
    assert str(settings.node_id) == "mesh/howto-mesh/virtualGateway/ingress-gw_howto"


def test_a_pod_selected_by_a_node_and_a_gateway_is_refused_as_the_webhook_did():
    pod = POD.replace("{ANNOTATIONS}", "{}").replace("app: front", "app: ingress-gw")
    context = [*read_objects(str(HOWTO)), *read_objects(str(GATEWAY))]
    both = [
        *context,
        *read_objects(
            "-",
            io.StringIO(
                "apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\n"
                "metadata: {name: gw-node, namespace: howto}\n"
                "spec: {podSelector: {matchLabels: {app: ingress-gw}}}\n"
            ),
        ),
    ]
    with pytest.raises(ConfigError) as err:
        inject(read_objects("-", io.StringIO(pod)), both, OPTIONS)
    assert "Pod 'howto/p'" in str(err.value)
    assert "VirtualNode 'howto/gw-node'" in str(err.value)
    assert "VirtualGateway 'howto/ingress-gw'" in str(err.value)


def test_a_gateway_envoy_with_null_env_and_security_context_is_completed():
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: g, namespace: howto, labels: {app: ingress-gw}}\n"
        "spec:\n  containers:\n  - {name: envoy, image: e:1, env: null, securityContext: null}\n"
    )
    out = next(yaml.safe_load_all(injected(pod)))
    envoy = out["spec"]["containers"][0]
    assert envoy["securityContext"]["runAsUser"] == 1337
    assert {e["name"] for e in envoy["env"]} == {
        "APPMESH_VIRTUAL_NODE_NAME",
        "APPMESH_XDS_ENDPOINT",
    }


def test_pod_labels_that_are_no_mapping_are_refused_naming_the_pod():
    pod = POD.replace("{ANNOTATIONS}", "{}").replace("labels: {app: front}", "labels: [app]")
    with pytest.raises(ConfigError, match=r"Pod 'howto/p': metadata.labels: expected a mapping"):
        injected(pod)


def test_cli_takes_a_comma_list_of_control_plane_replicas():
    def run(endpoint: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "proxyinit", "inject", "-f", str(DATA / "inject" / "deployment.yaml"),
             "--mesh", str(HOWTO), "--xds-endpoint", endpoint],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    good = run("cp-0.cp:15010,cp-1.cp:15010")
    assert good.returncode == 0, good.stderr
    assert "cp-0.cp:15010,cp-1.cp:15010" in good.stdout
    bad = run("cp-0.cp:15010,cp-1.cp")
    assert bad.returncode == 2 and "--xds-endpoint" in bad.stderr and "'cp-1.cp'" in bad.stderr
