"""`proxyinit inject --cni`: the redirect is the CNI plugin's job, so the pod gets no init
container and no NET_ADMIN, only an annotation the plugin reads through containerd's
`io.kubernetes.cri.pod-annotations` capability: the CNI keys (the aws-appmesh plugin's, and
ours for DNS capture) that the init container's APPMESH_*/PROXYINIT_* values mean, as JSON. `firewall/cni_config.py` reads it; the two key
tables are checked against each other by tests/unit/test_cni_config.py.
"""

from __future__ import annotations

import json

REDIRECT_ANNOTATION = "proxyinit/redirect"
KEYS = {  # APPMESH_* variable -> CNI key
    "APPMESH_IGNORE_UID": "ignoredUID",
    "APPMESH_IGNORE_GID": "ignoredGID",
    "APPMESH_ENVOY_INGRESS_PORT": "proxyIngressPort",
    "APPMESH_ENVOY_EGRESS_PORT": "proxyEgressPort",
    "APPMESH_APP_PORTS": "appPorts",
    "APPMESH_EGRESS_IGNORED_PORTS": "egressIgnoredPorts",
    "APPMESH_EGRESS_IGNORED_IP": "egressIgnoredIPs",
    "APPMESH_ENABLE_IPV6": "enableIPv6",
    "PROXYINIT_REDIRECT_DNS": "redirectDNS",
    "PROXYINIT_DNS_PORT": "dnsPort",
}
SWITCHES = {"enableIPv6", "redirectDNS"}
LISTS = {"appPorts", "egressIgnoredPorts", "egressIgnoredIPs"}


def redirect_annotation(env: dict[str, str]) -> dict[str, str]:
    """{annotation: JSON} for a (validated) redirector env; START_ENABLED has no key: an
    annotated pod is a meshed pod."""
    keys: dict[str, object] = {}
    for variable, value in env.items():
        key = KEYS.get(variable)
        if key is None or not value.strip():
            continue
        if key in LISTS:
            keys[key] = [item.strip() for item in value.split(",")]
        elif key in SWITCHES:
            keys[key] = value.strip() == "1"
        else:
            keys[key] = value.strip()
    return {REDIRECT_ANNOTATION: json.dumps(keys, separators=(",", ":"))}
