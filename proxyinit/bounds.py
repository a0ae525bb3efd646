"""Bounds on what a user hands the control plane: mesh files (size, nesting, YAML aliases) and
the values echoed back in error messages (through `contract.echo`).

A YAML alias bomb (`a: &a [x, x, ...]`, `b: &b [*a, *a, ...]`, ...) is a few hundred bytes that
PyYAML builds as shared objects, so loading it is quick; what blew up (2.6 GB in 40 s, the
debug endpoint silent) was everything after that walks it as a tree: validation, and `repr()`
in the error message. So the file is measured from its parser events, before any object is
built: the size it would have with every alias expanded, the nesting depth and the alias count.
Stdlib and PyYAML only; nothing happens at import.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxyinit.contract import echo
from proxyinit.errors import ConfigError

# A mesh of a thousand nodes with their routes is ~1 MB of YAML; 8 MiB is far beyond any.
MAX_MESH_FILE_BYTES = 8 * 1024 * 1024
# App Mesh's deepest shape (a route's header match range) is 9 levels inside the resource list.
MAX_DEPTH = 50
MAX_ALIASES = 1000
# Nodes (scalars and collections) with every alias expanded: what validation will walk. A mesh
# of a thousand nodes and routes is ~60,000; 200,000 loads in about a second.
MAX_NODES = 200_000


def read_regular(path: str | Path, limit: int) -> tuple[os.stat_result, bytes]:
    """(stat, at most `limit` + 1 bytes) of a regular file; OSError, or ConfigError if the path
    is no regular file. O_NONBLOCK: a FIFO put in the file's place must not block the open (the
    type is checked on the opened file, so a swap after a check cannot slip through)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"mesh file {str(path)!r}: not a regular file")
        return info, handle.read(limit + 1)


def read_mesh_file(path: str | Path) -> str:
    """The text of a mesh file; ConfigError if it is no regular file, too large, or unreadable
    (/dev/zero never ends; a FIFO would block)."""
    return mesh_file_text(path, read_mesh_bytes(path)[1])


def read_mesh_bytes(path: str | Path) -> tuple[os.stat_result, bytes]:
    """(stat, bytes) of a mesh file, at most one byte past the bound; ConfigError if it is no
    regular file or unreadable."""
    try:
        return read_regular(path, MAX_MESH_FILE_BYTES)
    except OSError as exc:
        raise ConfigError(
            f"mesh file {str(path)!r}: cannot read it ({exc.strerror or exc})"
        ) from None


def mesh_file_text(path: str | Path, data: bytes) -> str:
    """The text of the bytes read from the mesh file at `path` (errors name it); ConfigError if
    they are too many or not UTF-8."""
    where = f"mesh file {str(path)!r}"
    if len(data) > MAX_MESH_FILE_BYTES:
        raise ConfigError(f"{where}: larger than {MAX_MESH_FILE_BYTES} bytes (8 MiB)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def load_yaml(text: str, where: str) -> Any:
    """YAML (or JSON) -> Python objects, refused (ConfigError) past the bounds above."""
    return _bounded_load(text, where, every_document=False)


def load_yaml_documents(text: str, where: str) -> list[Any]:
    """Every document of a YAML stream (`---` separated, as Kubernetes manifests are), bounded
    as load_yaml bounds one: the measure runs over the whole stream's events."""
    return _bounded_load(text, where, every_document=True)


def _bounded_load(text: str, where: str, every_document: bool) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if len(text) > MAX_MESH_FILE_BYTES:
        raise ConfigError(f"{where}: larger than {MAX_MESH_FILE_BYTES} bytes (8 MiB)")
    try:
        _measure(yaml.parse(text, Loader=loader), where)
        if every_document:
            return list(yaml.load_all(text, Loader=loader))
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML/JSON ({exc})") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of 5,000 digits
        raise ConfigError(f"{where}: not valid YAML/JSON ({echo(str(exc), 200)})") from None


def _measure(events, where: str) -> None:
    """Walk parser events (no objects built) and refuse depth, aliases or expanded size."""
    import yaml

    sizes: list[int] = []  # expanded node count of each open collection
    anchors: list[str | None] = []
    anchored: dict[str, int] = {}
    aliases = expanded = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ConfigError(f"{where}: more than {MAX_ALIASES} YAML aliases (*name)")
            grown = anchored.get(event.anchor, 1)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(sizes) >= MAX_DEPTH:
                raise ConfigError(f"{where}: nested deeper than {MAX_DEPTH} levels")
            sizes.append(1)
            anchors.append(event.anchor)
            grown = 1
        elif isinstance(event, yaml.CollectionEndEvent):
            size, anchor = sizes.pop(), anchors.pop()
            if anchor is not None:
                anchored[anchor] = size
            if sizes:
                sizes[-1] += size
            continue  # counted in `expanded` as it grew
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                anchored[event.anchor] = 1
            grown = 1
        else:
            continue
        if sizes and not isinstance(event, yaml.CollectionStartEvent):
            sizes[-1] += grown
        expanded += grown
        if expanded > MAX_NODES:
            raise ConfigError(
                f"{where}: more than {MAX_NODES} values once YAML aliases are expanded "
                "(an alias bomb?)"
            )


@dataclass(frozen=True)
class ConnectionLimits:
    """Bounds on one HTTP listener's connections (the API, debug and metrics endpoints), so
    idle or slow clients cannot hold file descriptors until the process runs out: past
    `max_connections` a new connection is answered 503 and closed at once (not queued); a
    connection must send its request head within `header_timeout` seconds, and an idle
    keep-alive connection is closed after `keep_alive` seconds."""

    max_connections: int = 1000
    header_timeout: float = 10.0
    keep_alive: float = 5.0
