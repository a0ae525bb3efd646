"""`proxyinit inject`: what the App Mesh controller's pod webhook added, written into manifests.

For each workload (Pod, or a Deployment/StatefulSet/DaemonSet/ReplicaSet/Job/CronJob template)
the webhook would have injected (pkg/inject in aws-app-mesh-controller-for-k8s):
- its namespace carries `appmesh.k8s.aws/sidecarInjectorWebhook: enabled` (the webhook's
  namespaceSelector; a namespace not in the input counts as enabled: you asked to inject), and
  the pod's own annotation of that name is not `disabled`;
- exactly one VirtualNode of that namespace has a `podSelector` matching the pod's labels
  (none: left as it is; two: an error, as the webhook refused the pod).
It adds the `proxyinit` init container (NET_ADMIN, `APPMESH_*` as the webhook derived them:
app ports from `appmesh.k8s.aws/ports` or the node's listeners, `egressIgnoredIPs`,
`egressIgnoredPorts`; PROXYINIT_REDIRECT_DNS=1 with our `proxyinit/redirectDNS: enabled`) and
the `envoy` sidecar running `envoy-run` with the node's id,
`APPMESH_XDS_ENDPOINT` and `appmesh.k8s.aws/sidecarEnv`, `secretMounts`, `cpuRequest`,
`memoryRequest`. A container already there by that name is left alone, so injecting twice
changes nothing. The redirector's env is checked with the redirector's own parser.

A pod that a VirtualGateway's `podSelector` selects instead (one of its namespace; a pod
selected by a node and a gateway is an error, as in the webhook) is the gateway's Envoy:
no init container, its `envoy` container made the gateway's (`_gateway_envoy`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from proxyinit.contract import EGRESS_PORT, ENVOY_ADMIN_PORT, ENVOY_UID, INGRESS_PORT, echo
from proxyinit.errors import ConfigError
from proxyinit.k8s.appmesh import translate
from proxyinit.k8s.manifests import Obj, selector_matches

A = "appmesh.k8s.aws/"
INJECT, PORTS, SIDECAR_ENV = A + "sidecarInjectorWebhook", A + "ports", A + "sidecarEnv"
EGRESS_IPS, EGRESS_PORTS = A + "egressIgnoredIPs", A + "egressIgnoredPorts"
SECRET_MOUNTS, CPU, MEMORY = A + "secretMounts", A + "cpuRequest", A + "memoryRequest"
SKIP_IMAGE_OVERRIDE = A + "virtualGatewaySkipImageOverride"
# Ours (README "DNS capture"): `enabled` sets PROXYINIT_REDIRECT_DNS=1 (or the CNI key).
REDIRECT_DNS = "proxyinit/redirectDNS"
# The controller's defaults (its --ignored-ips, --sidecar-cpu-requests, --sidecar-memory-requests).
DEFAULT_IGNORED_IPS, DEFAULT_CPU, DEFAULT_MEMORY = "169.254.169.254", "10m", "32Mi"
# Where each kind keeps its pod template.
TEMPLATES = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True)
class Options:
    xds_endpoint: str
    image: str
    cni: bool = False  # the CNI plugin redirects: an annotation instead of the init container


@dataclass
class Result:
    docs: list[dict] = field(default_factory=list)
    report: list[str] = field(default_factory=list)


def inject(objs: list[Obj], context: list[Obj], options: Options) -> Result:
    """Every input object, workloads injected where the webhook would have; a report line each."""
    translation = translate(_unique([*objs, *context]))
    labels = {
        o.name: dict(o.meta.get("labels") or {})
        for o in [*objs, *context]
        if o.kind == "Namespace" and o.api_version == "v1"
    }
    result = Result()
    for obj in objs:
        body = obj.body
        if obj.kind in TEMPLATES and obj.api_version.split("/")[0] != "appmesh.k8s.aws":
            body, line = _workload(obj, translation, labels, options)
            result.report.append(line)
        result.docs.append(body)
    return result


def dump(docs: list[dict]) -> str:
    """Multi-document YAML, keys in their input order, ready for `kubectl apply -f -`."""
    import yaml

    return yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True)


def _unique(objs: list[Obj]) -> list[Obj]:
    # The same object given as input and as --mesh context is one object.
    seen, out = set(), []
    for obj in objs:
        key = (obj.api_version, obj.kind, obj.namespace, obj.name)
        if key not in seen:
            seen.add(key)
            out.append(obj)
    return out


def _workload(obj: Obj, translation, labels: dict, options: Options) -> tuple[dict, str]:
    body = copy.deepcopy(obj.body)
    template = body
    for key in TEMPLATES[obj.kind]:
        template = template.get(key) if isinstance(template, dict) else None
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        raise ConfigError(f"{obj.ident()}: no pod template at {'.'.join(TEMPLATES[obj.kind])}")
    meta = (
        template.setdefault("metadata", {})
        if obj.kind != "Pod"
        else body.setdefault("metadata", {})
    )
    annotations = meta.get("annotations") or {}
    namespace_labels = labels.get(obj.namespace)
    if namespace_labels is not None and namespace_labels.get(INJECT) != "enabled":
        return obj.body, f"{obj.ident()}: skipped (namespace not labelled {INJECT}=enabled)"
    if str(annotations.get(INJECT, "")).lower() == "disabled":
        return obj.body, f"{obj.ident()}: skipped ({INJECT}: disabled)"
    pod_labels = meta.get("labels") or {}
    if not isinstance(pod_labels, dict):
        where = "".join(f"{key}." for key in TEMPLATES[obj.kind])
        raise ConfigError(
            f"{obj.ident()}: {where}metadata.labels: expected a mapping (got {echo(pod_labels)})"
        )
    node = _member_of(obj, pod_labels, translation.nodes, "VirtualNodes")
    gateway = _member_of(obj, pod_labels, translation.gateways, "VirtualGateways")
    if node and gateway:
        raise ConfigError(
            f"{obj.ident()}: selected by both {node[0].ident()} and {gateway[0].ident()} "
            "(the webhook refused such pods): use podSelector on one"
        )
    if gateway:
        vg, mesh, name = gateway
        node_id = f"mesh/{mesh}/virtualGateway/{name}"
        _gateway_envoy(obj, template["spec"], annotations, node_id, options)
        return body, f"{obj.ident()}: injected as gateway ({vg.ident()} -> {node_id})"
    if node is None:
        return obj.body, f"{obj.ident()}: skipped (no VirtualNode podSelector matches its labels)"
    vn, mesh, name = node
    node_id = f"mesh/{mesh}/virtualNode/{name}"
    if options.cni:
        from proxyinit.k8s.inject_cni import redirect_annotation

        env = redirector_env(obj, annotations, vn)
        meta["annotations"] = {**annotations, **redirect_annotation(env)}
    _add_containers(obj, template["spec"], annotations, vn, node_id, options)
    how = ", redirect by the CNI plugin" if options.cni else ""
    return body, f"{obj.ident()}: injected ({vn.ident()} -> {node_id}{how})"


def _member_of(obj: Obj, pod_labels: dict, members, what: str) -> tuple | None:
    """The one VirtualNode (or VirtualGateway) of the pod's namespace whose podSelector selects it."""
    found = []
    for member, mesh, name in members:
        if member.namespace != obj.namespace:
            continue
        try:
            if selector_matches(member.spec.get("podSelector"), pod_labels, "spec.podSelector"):
                found.append((member, mesh, name))
        except ValueError as err:
            raise ConfigError(f"{member.ident()}: {err}") from None
    if len(found) > 1:
        names = ", ".join(member.ident() for member, _, _ in found)
        raise ConfigError(f"{obj.ident()}: found multiple matching {what}: {names}")
    return found[0] if found else None


def _gateway_envoy(obj: Obj, spec: dict, annotations: dict, node_id: str, options) -> None:
    """A gateway pod's Envoy, as pkg/inject/virtualgateway_envoy.go made it: the pod's own
    `envoy` container gets the gateway's env (same-named variables overwritten, the others kept),
    our image unless `virtualGatewaySkipImageOverride: enabled`, a readiness probe if it has
    none; no init container (nothing is redirected). Without an `envoy` container one is added
    (the webhook then did nothing, leaving a gateway pod without its Envoy)."""
    containers = spec.setdefault("containers", [])
    envoy = next((c for c in containers if c.get("name") == "envoy"), None)
    if envoy is None:
        containers.append(_envoy_container(obj, annotations, node_id, options))
        return
    wanted = {"APPMESH_VIRTUAL_NODE_NAME": node_id, "APPMESH_XDS_ENDPOINT": options.xds_endpoint}
    env = envoy["env"] = envoy.get("env") or []  # `env: null` is valid YAML for none
    for item in env:
        if item.get("name") in wanted:
            item["value"] = wanted.pop(item["name"])
            item.pop("valueFrom", None)
    env += [{"name": k, "value": v} for k, v in wanted.items()]
    if str(annotations.get(SKIP_IMAGE_OVERRIDE, "")).lower() != "enabled":
        envoy["image"] = options.image
        # Our image's entrypoint is `proxyinit`: another image's command does not exist in it.
        envoy.pop("command", None)
        envoy["args"] = ["envoy-run"]
        # App Mesh's Envoy image ran as uid 1337; ours has no USER: keep Envoy off root.
        context = envoy["securityContext"] = envoy.get("securityContext") or {}
        context.setdefault("runAsUser", ENVOY_UID)
        context.setdefault("runAsGroup", ENVOY_UID)
    if envoy.get("readinessProbe") is None:
        envoy["readinessProbe"] = _readiness_probe()


def _add_containers(obj, spec, annotations, vn, node_id, options) -> None:
    if not options.cni:
        init = spec.setdefault("initContainers", []) or []
        spec["initContainers"] = init
        if not any(c.get("name") == "proxyinit" for c in init):
            init.append(_init_container(obj, annotations, vn, options))
    containers = spec.setdefault("containers", [])
    if not any(c.get("name") == "envoy" for c in containers):
        envoy = _envoy_container(obj, annotations, node_id, options)
        for name, path in _pairs(obj, annotations, SECRET_MOUNTS, ":"):
            envoy.setdefault("volumeMounts", []).append(
                {"name": name, "mountPath": path, "readOnly": True}
            )
            volumes = spec.setdefault("volumes", [])
            if not any(v.get("name") == name for v in volumes):
                volumes.append({"name": name, "secret": {"secretName": name}})
        containers.append(envoy)


def redirector_env(obj: Obj, annotations: dict, vn: Obj) -> dict[str, str]:
    """APPMESH_* as the webhook's proxy mutator derived them, checked by the redirector's parser."""
    ports = annotations.get(PORTS)
    if ports is None:
        listeners = vn.spec.get("listeners") or ()
        ports = ",".join(str((item.get("portMapping") or {}).get("port")) for item in listeners)
    env = {
        "APPMESH_START_ENABLED": "1",
        "APPMESH_IGNORE_UID": str(ENVOY_UID),
        "APPMESH_ENVOY_INGRESS_PORT": str(INGRESS_PORT),
        "APPMESH_ENVOY_EGRESS_PORT": str(EGRESS_PORT),
        # The webhook wrote "0" for a node without listeners; unset is the redirector's
        # egress-only mode, which is what "0" meant.
        **({"APPMESH_APP_PORTS": str(ports)} if str(ports) not in ("", "0") else {}),
        "APPMESH_EGRESS_IGNORED_IP": str(annotations.get(EGRESS_IPS, DEFAULT_IGNORED_IPS)),
        "APPMESH_EGRESS_IGNORED_PORTS": str(annotations.get(EGRESS_PORTS, "22")),
        **_redirect_dns(obj, annotations),
    }
    from proxyinit.settings import load_settings

    try:
        load_settings(env)
    except ConfigError as err:
        raise ConfigError(
            f"{obj.ident()}: the injected proxyinit env is invalid "
            f"(from its {A}* annotations or {vn.ident()}): {err}"
        ) from None
    return env


def _redirect_dns(obj: Obj, annotations: dict) -> dict[str, str]:
    """`enabled`/`disabled` like the webhook's switches; anything else is refused, not off."""
    value = annotations.get(REDIRECT_DNS)
    if value is None or value == "disabled":
        return {}
    if value != "enabled":
        raise ConfigError(
            f"{obj.ident()}: annotation {REDIRECT_DNS}={echo(value)}: expected enabled or disabled"
        )
    return {"PROXYINIT_REDIRECT_DNS": "1"}


def _init_container(obj: Obj, annotations: dict, vn: Obj, options: Options) -> dict:
    env = redirector_env(obj, annotations, vn)
    return {
        "name": "proxyinit",
        "image": options.image,
        # NET_RAW too: legacy iptables (and reading legacy tables to detect them) needs it.
        "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "resources": _requests(annotations),
    }


def _envoy_container(obj: Obj, annotations: dict, node_id: str, options: Options) -> dict:
    env = {"APPMESH_VIRTUAL_NODE_NAME": node_id, "APPMESH_XDS_ENDPOINT": options.xds_endpoint}
    env.update(_pairs(obj, annotations, SIDECAR_ENV, "="))
    return {
        "name": "envoy",
        "image": options.image,
        "args": ["envoy-run"],
        "securityContext": {
            "runAsUser": ENVOY_UID,
            "runAsGroup": ENVOY_UID,
            "allowPrivilegeEscalation": False,
        },
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "readinessProbe": _readiness_probe(),
        "resources": _requests(annotations),
    }


def _readiness_probe() -> dict:
    # Envoy's admin listens on loopback only: the probe runs inside the container.
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{ENVOY_ADMIN_PORT}/ready', timeout=2)"
    return {"exec": {"command": ["python", "-c", probe]}, "periodSeconds": 2}


def _requests(annotations: dict) -> dict:
    cpu, memory = annotations.get(CPU, DEFAULT_CPU), annotations.get(MEMORY, DEFAULT_MEMORY)
    return {"requests": {"cpu": str(cpu), "memory": str(memory)}}


def _pairs(obj: Obj, annotations: dict, key: str, sep: str) -> list[tuple[str, str]]:
    """`a<sep>b,c<sep>d` annotations (sidecarEnv, secretMounts), refused when malformed."""
    raw = annotations.get(key)
    if raw is None:
        return []
    pairs = []
    for segment in str(raw).split(","):
        parts = segment.split(sep)
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ConfigError(
                f"{obj.ident()}: annotation {key}: expected "
                f"NAME{sep}VALUE[,NAME{sep}VALUE...] (got {echo(raw)})"
            )
        pairs.append((parts[0].strip(), parts[1].strip()))
    return pairs
