"""`proxyinit inject --cni`: no init container, no NET_ADMIN; the pod's proxyinit/redirect
annotation, read by the CNI plugin, means exactly the env the init container would have had."""

from __future__ import annotations

import io
import json

import kubernetes_validate
import pytest
import yaml

from proxyinit.firewall.cni_config import ANNOTATIONS, OURS, VARIABLES, parse
from proxyinit.k8s.inject import TEMPLATES, Options, dump, inject
from proxyinit.k8s.inject_cni import KEYS, REDIRECT_ANNOTATION
from proxyinit.k8s.manifests import read_objects
from tests.k8s.test_k8s_inject import CASES, DATA, HOWTO, OPTIONS

CNI = Options(xds_endpoint=OPTIONS.xds_endpoint, image=OPTIONS.image, cni=True)


def injected(text: str, options: Options = CNI) -> list[dict]:
    objs = read_objects("-", io.StringIO(text))
    return list(yaml.safe_load_all(dump(inject(objs, read_objects(str(HOWTO)), options).docs)))


def template_of(doc: dict) -> dict | None:
    """The pod (template) of a workload; None for other kinds."""
    if doc.get("kind") not in TEMPLATES or doc["apiVersion"].startswith("appmesh.k8s.aws"):
        return None
    for key in TEMPLATES[doc["kind"]]:
        doc = doc[key]
    return doc


def pod_annotations(doc: dict) -> dict:
    return template_of(doc)["metadata"].get("annotations") or {}


def plugin_env(annotations: dict) -> dict[str, str]:
    """What the CNI plugin makes of the pod, given the annotations containerd hands it."""
    conf = {
        "cniVersion": "1.0.0",
        "name": "appmesh",
        "type": "proxyinit",
        "capabilities": {ANNOTATIONS: True},
        "runtimeConfig": {ANNOTATIONS: annotations},
    }
    parsed = parse(json.dumps(conf))
    assert parsed.meshed
    return parsed.env


def test_the_key_tables_agree():
    assert {key: variable for variable, key in KEYS.items()} == VARIABLES
    assert set(VARIABLES) == set(OURS)


def test_the_redirect_dns_annotation_becomes_the_redirect_dns_key():
    docs = injected((DATA / "inject" / "redirect-dns.yaml").read_text())
    keys = [json.loads(pod_annotations(doc)[REDIRECT_ANNOTATION]) for doc in docs]
    assert keys[0]["redirectDNS"] is True
    assert "redirectDNS" not in keys[1]
    assert plugin_env(pod_annotations(docs[0]))["PROXYINIT_REDIRECT_DNS"] == "1"


@pytest.mark.parametrize("case", CASES)
def test_annotation_means_the_init_containers_env(case):
    text = (DATA / "inject" / f"{case}.yaml").read_text()
    with_init, with_cni = injected(text, OPTIONS), injected(text)
    meshed = 0
    for plain, cni in zip(with_init, with_cni, strict=True):
        if template_of(plain) is None:
            continue
        inits = template_of(plain)["spec"].get("initContainers") or []
        init = next((c for c in inits if c.get("name") == "proxyinit"), None)
        if init is None:  # not injected: no annotation either
            assert REDIRECT_ANNOTATION not in pod_annotations(cni)
            continue
        meshed += 1
        assert plugin_env(pod_annotations(cni)) == {e["name"]: e["value"] for e in init["env"]}
    # A gateway's pods get no init container in either mode (the gateway is Envoy alone).
    assert meshed or case.startswith(("skip", "gateway")), "the case injects nothing"


@pytest.mark.parametrize("case", CASES)
def test_no_init_container_and_no_net_admin(case):
    text = (DATA / "inject" / f"{case}.yaml").read_text()
    out = dump(injected(text))
    assert "NET_ADMIN" not in out
    assert "name: proxyinit" not in out


@pytest.mark.parametrize("case", CASES)
def test_injecting_twice_changes_nothing_and_stays_valid(case):
    once = dump(injected((DATA / "inject" / f"{case}.yaml").read_text()))
    assert dump(injected(once)) == once
    version = kubernetes_validate.latest_version()
    for doc in yaml.safe_load_all(once):
        kubernetes_validate.validate(doc, version, strict=True)


def test_a_pod_without_the_annotation_is_left_alone_by_the_plugin():
    conf = {
        "cniVersion": "1.0.0",
        "name": "appmesh",
        "type": "proxyinit",
        "capabilities": {ANNOTATIONS: True},
        "runtimeConfig": {ANNOTATIONS: {"other": "x"}},
    }
    assert not parse(json.dumps(conf)).meshed
    del conf["runtimeConfig"]
    assert not parse(json.dumps(conf)).meshed
