"""The process environment, read without importing `os`.

`import os` costs ~0.9 ms of every init container's start (it imports _collections_abc with
~25 ABC classes, stat, posixpath, genericpath), and that path uses nothing of os but the
builtin `posix` module's functions, which os re-exports. `posix.environ` is the very dict
`os.environ` writes through (`os.environ[k] = v`, pytest's monkeypatch.setenv), with bytes keys
and values: decoded as os.fsdecode does (`surrogateescape`), it reads as os.environ does.
"""

from __future__ import annotations

import posix
import sys


def _decode(raw: bytes) -> str:
    return raw.decode(sys.getfilesystemencoding(), "surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode(sys.getfilesystemencoding(), "surrogateescape")


def get(name: str, default: str | None = None) -> str | None:
    """os.environ.get(name, default)."""
    raw = posix.environ.get(_encode(name))
    return default if raw is None else _decode(raw)
