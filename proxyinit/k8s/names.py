"""App Mesh names of the controller's objects and the error that names an object's field.

Shared by the kinds' translators (`appmesh`, `gateways`). Names are as the controller's webhook
mutators defaulted them when `spec.awsName` is absent or empty.
"""

from __future__ import annotations

from typing import Any

from proxyinit.contract import echo
from proxyinit.errors import ConfigError
from proxyinit.k8s.manifests import Obj

# The mutators' `<name>_<namespace>` kinds; VirtualService is `<name>.<namespace>`, Mesh `<name>`.
_UNDERSCORED = ("VirtualNode", "VirtualRouter", "VirtualGateway", "GatewayRoute")


def fail(obj: Obj, path: str, why: str, value: Any) -> ConfigError:
    return ConfigError(f"{obj.ident(obj.kind != 'Mesh')}: {path}: {why} (got {echo(value)})")


def aws_name(obj: Obj) -> str:
    given = obj.spec.get("awsName")
    if given not in (None, ""):
        if not isinstance(given, str):
            raise fail(obj, "spec.awsName", "expected a string", given)
        return given
    if obj.kind in _UNDERSCORED:
        return f"{obj.name}_{obj.namespace}"
    if obj.kind == "VirtualService":
        return f"{obj.name}.{obj.namespace}"
    return obj.name
