"""A CNI network configuration (stdin) -> the APPMESH_* mapping `settings.load_settings` reads.

The keys are those of the `aws-appmesh` CNI plugin that ECS used, so its configurations keep
working: numbers as JSON strings, lists as lists of strings, `enableIPv6` a boolean. Their
meaning and validation are exactly those of the APPMESH_* variables: this module only checks
the JSON shapes and builds the mapping; `settings` decides what the values mean. Our own
additions (`redirectDNS`, `dnsPort`) map the same way to PROXYINIT_* variables.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import NamedTuple

from proxyinit.contract import MAX_ECHO, echo

# CNI error codes (CNI spec 1.0, "Error"): 1 version, 2 unsupported field, 4 environment,
# 5 I/O, 6 decode, 7 invalid configuration.
CODE_VERSION, CODE_FIELD, CODE_ENV, CODE_IO, CODE_DECODE, CODE_CONFIG = 1, 2, 4, 5, 6, 7
# 0.3.x configurations (ECS wrote 0.3.0) still parse; CHECK needs 0.4.0 or later (the spec's).
SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0")
CHECK_VERSIONS = ("0.4.0", "1.0.0")

SCALARS = {  # CNI key -> variable (without prefix); each a JSON string
    "ignoredUID": "IGNORE_UID",
    "ignoredGID": "IGNORE_GID",
    "proxyIngressPort": "ENVOY_INGRESS_PORT",
    "proxyEgressPort": "ENVOY_EGRESS_PORT",
    "dnsPort": "DNS_PORT",
}
LISTS = {  # CNI key -> APPMESH_ variable; each a JSON list of strings, one item per entry
    "appPorts": "APP_PORTS",
    "egressIgnoredPorts": "EGRESS_IGNORED_PORTS",
    "egressIgnoredIPs": "EGRESS_IGNORED_IP",
}
MAX_SHOWN = MAX_ECHO
SWITCHES = {"enableIPv6": "ENABLE_IPV6", "redirectDNS": "REDIRECT_DNS"}
OURS = {**SCALARS, **LISTS, **SWITCHES}
# proxyinit's own keys (README "DNS capture"): PROXYINIT_* variables, not App Mesh's.
OWN = {"dnsPort", "redirectDNS"}
# CNI key -> the full variable name settings.load_settings reads.
VARIABLES = {key: ("PROXYINIT_" if key in OWN else "APPMESH_") + name for key, name in OURS.items()}
# Keys the spec (or libcni) puts in any plugin's configuration; accepted and not interpreted.
WELL_KNOWN = {"cniVersion", "name", "type", "args", "ipMasq", "ipam", "dns", "prevResult"}
WELL_KNOWN |= {"runtimeConfig", "capabilities"}


class CniError(Exception):
    """Reported as the spec's error object; exit 2 for configuration errors, 1 otherwise."""

    def __init__(self, code: int, msg: str, details: str = "", exit_code: int = 2):
        super().__init__(msg)
        self.code, self.msg, self.details, self.exit_code = code, msg, details, exit_code


# Kubernetes: a plugin declaring this capability gets the pod's annotations from containerd
# (runtimeConfig), and then redirects only pods that `proxyinit inject --cni` annotated, with
# the keys in that annotation (JSON) over the configuration's.
ANNOTATIONS = "io.kubernetes.cri.pod-annotations"
REDIRECT_ANNOTATION = "proxyinit/redirect"


class NetConf(NamedTuple):
    version: str
    prev_result: dict | None
    env: dict[str, str]  # APPMESH_* as the init container would have them
    meshed: bool = True  # False: a pod not annotated for the mesh; ADD/CHECK leave it alone


def decode(stdin: str) -> dict:
    try:
        conf = json.loads(stdin)
    except ValueError as err:
        raise CniError(CODE_DECODE, f"network configuration on stdin is not JSON: {err}") from None
    if not isinstance(conf, dict):
        raise CniError(CODE_DECODE, "network configuration on stdin is not a JSON object")
    return conf


def check_version(conf: dict) -> str:
    version = conf.get("cniVersion")
    if not isinstance(version, str) or not version:
        raise CniError(CODE_CONFIG, f"cniVersion={_show(version)}: required, a string")
    if version not in SUPPORTED_VERSIONS:
        raise CniError(
            CODE_VERSION,
            f"cniVersion={echo(version)} is not supported (supported: {', '.join(SUPPORTED_VERSIONS)})",
        )
    return version


def parse(stdin: str) -> NetConf:
    """Decode, check the envelope and every key's JSON type; CniError names the key and value."""
    conf = decode(stdin)
    version = check_version(conf)
    for key in ("name", "type"):
        if not isinstance(conf.get(key), str) or not conf[key]:
            raise CniError(CODE_CONFIG, f"{key}={_show(conf.get(key))}: required, a string")
    _refuse_unknown(conf)
    prev = conf.get("prevResult")
    if prev is not None and not isinstance(prev, dict):
        raise CniError(CODE_CONFIG, f"prevResult={_show(prev)}: expected a JSON object")
    env = {"APPMESH_START_ENABLED": "1"}  # a configured plugin applies, as ECS's did
    for key, variable in VARIABLES.items():
        if key in conf:
            env[variable] = _text_of(key, conf[key])
    pod = _pod_keys(conf)
    if pod is None:
        return NetConf(version, prev, env, meshed=False)
    for key, value in pod.items():
        env[VARIABLES[key]] = _text_of(key, value, f"{REDIRECT_ANNOTATION}: ")
    return NetConf(version, prev, env)


def _pod_keys(conf: dict) -> dict | None:
    """The per-pod keys ({} without the capability: the configuration applies to every pod);
    None for a pod without the annotation when the capability is declared."""
    capabilities = conf.get("capabilities")
    if not isinstance(capabilities, dict) or capabilities.get(ANNOTATIONS) is not True:
        return {}
    runtime = conf.get("runtimeConfig")
    annotations = runtime.get(ANNOTATIONS) if isinstance(runtime, dict) else None
    raw = annotations.get(REDIRECT_ANNOTATION) if isinstance(annotations, dict) else None
    if raw is None:
        return None
    where = f"annotation {REDIRECT_ANNOTATION}"
    try:
        keys = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        keys = None
    if not isinstance(keys, dict):
        raise CniError(CODE_CONFIG, f"{where}={_show(raw)}: expected a JSON object of keys")
    for key in keys:
        if key not in OURS:
            raise CniError(CODE_FIELD, f"{where}: {_show(key)} is not one of {', '.join(OURS)}")
    return keys


def _text_of(key: str, value: object, where: str = "") -> str:
    """The APPMESH_* text for one key's JSON value, or CniError naming the key."""
    try:
        return _text(key, value)
    except CniError as err:
        raise CniError(err.code, where + err.msg) from None


def _text(key: str, value: object) -> str:
    if key in SWITCHES:
        if not isinstance(value, bool):
            raise CniError(CODE_CONFIG, f"{key}={_show(value)}: expected true or false")
        return "1" if value else "0"
    if key in SCALARS:
        if not isinstance(value, str):
            raise CniError(CODE_CONFIG, f'{key}={_show(value)}: expected a string (e.g. "15001")')
        return value
    if not isinstance(value, list):
        raise CniError(CODE_CONFIG, f"{key}={_show(value)}: expected a list of strings")
    for index, item in enumerate(value):
        # One entry per item: a comma inside would silently become two entries.
        if not isinstance(item, str) or not item.strip() or "," in item:
            raise CniError(
                CODE_CONFIG,
                f"{key}[{index}]={_show(item)}: expected one non-empty string per entry",
            )
    return ",".join(value)


def _refuse_unknown(conf: dict) -> None:
    """A misspelt key (`appPort`) must not silently mean "no app ports"."""
    for key in conf:
        if key in OURS or key in WELL_KNOWN:
            continue
        close = difflib.get_close_matches(key, [*OURS, *WELL_KNOWN], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CniError(CODE_FIELD, f"{_show(key)}={_show(conf[key])}: unsupported field{hint}")


def _show(value: object) -> str:
    """A JSON value as the user wrote it, bounded like `contract.echo`."""
    if value is None:
        return "missing"
    text = json.dumps(value)
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}... ({len(text)} characters)"


_VARIABLE = re.compile(r"(?:APPMESH|PROXYINIT)_[A-Z0-9_]+")
_KEY_OF = {variable: key for key, variable in VARIABLES.items()}


def name_keys(message: str) -> str:
    """A settings error speaks of APPMESH_X; in CNI mode the user wrote the key: name that."""
    return _VARIABLE.sub(lambda m: _KEY_OF.get(m.group(0), m.group(0)), message)
