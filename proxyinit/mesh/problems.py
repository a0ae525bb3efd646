"""One message format for every bad mesh: `<Kind> '<name>' (mesh '<mesh>'): <field path>: <why> (got <value>)`.

Every ConfigError raised by the mesh model names the resource, the field path in App Mesh's camelCase
JSON, and the offending value, so a user can find the line in their mesh file.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from proxyinit.bounds import short
from proxyinit.errors import ConfigError

_MAX_REPORTED = 5


def where(kind: str, name: str, mesh: str | None = None) -> str:
    # Names are echoed before they are validated: a 1 MiB name must not come back whole.
    return f"{kind} {short(name, 100)}" + (f" (mesh {short(mesh, 100)})" if mesh else "")


def field_path(loc: tuple[Any, ...]) -> str:
    """('spec', 'listeners', 0, 'portMapping') -> 'spec.listeners[0].portMapping'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(resource)"


def _short(value: Any) -> str:
    # Never repr() the whole value: an aliased YAML structure is small in memory and enormous
    # as text, and the message keeps 120 characters of it anyway.
    return short(value)


def resource_error(
    kind: str, name: str, mesh: str | None, path: str, why: str, value: Any
) -> ConfigError:
    return ConfigError(f"{where(kind, name, mesh)}: {path}: {why} (got {_short(value)})")


def _is_echo(error: dict) -> bool:
    # A list whose items failed is reported a second time as "too short, 0 items": noise.
    return (
        error["type"] == "too_short"
        and error.get("ctx", {}).get("actual_length") == 0
        and bool(error["input"])
    )


def from_validation_error(
    kind: str, name: str, mesh: str | None, exc: ValidationError
) -> ConfigError:
    """Turn pydantic's report into one ConfigError naming the resource, field paths and values."""
    parts = []
    for error in [e for e in exc.errors() if not _is_echo(e)][:_MAX_REPORTED]:
        why = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            why = "unknown or unsupported field"
        parts.append(f"{field_path(error['loc'])}: {why} (got {_short(error['input'])})")
    return ConfigError(f"{where(kind, name, mesh)}: " + "; ".join(parts))
