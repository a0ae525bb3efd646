"""One message format for every bad mesh: `<Kind> '<name>' (mesh '<mesh>'): <field path>: <why> (got <value>)`.

Every ConfigError raised by the mesh model names the resource, the field path in App Mesh's camelCase
JSON, and the offending value, so a user can find the line in their mesh file.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from proxyinit.contract import echo
from proxyinit.errors import ConfigError

_MAX_REPORTED = 5


def where(kind: str, name: str, mesh: str | None = None) -> str:
    # Names are echoed before they are validated: a 1 MiB name must not come back whole.
    return f"{kind} {echo(name, 100)}" + (f" (mesh {echo(mesh, 100)})" if mesh else "")


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('spec', 'listeners', 0, 'portMapping') -> 'spec.listeners[0].portMapping'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(resource)"


def resource_error(
    kind: str, name: str, mesh: str | None, path: str, why: str, value: Any
) -> ConfigError:
    return ConfigError(f"{where(kind, name, mesh)}: {path}: {why} (got {echo(value)})")


def check_in_mesh(res: Any, mesh: str) -> None:
    """A resource listed for `mesh` must name it as its meshName."""
    if res.mesh_name != mesh:
        raise resource_error(
            res.KIND,
            res.name,
            res.mesh_name,
            "meshName",
            f"does not belong to mesh {mesh!r}",
            res.mesh_name,
        )


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
    return ConfigError(f"{where(kind, name, mesh)}: " + describe_errors(exc.errors()))


def describe_errors(errors: list[dict], skip: tuple[str, ...] = ()) -> str:
    """pydantic errors as `path: why (got value)` parts; `skip`: location parts to leave out
    (FastAPI prefixes every body field with "body")."""
    parts = []
    for error in [e for e in errors if not _is_echo(e)][:_MAX_REPORTED]:
        why = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            why = "unknown or unsupported field"
        loc = [part for part in error.get("loc", ()) if part not in skip]
        parts.append(f"{field_path(loc)}: {why} (got {echo(error.get('input'))})")
    return "; ".join(parts)
