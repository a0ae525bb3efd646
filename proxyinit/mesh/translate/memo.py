"""Protos built once per distinct input and copied per use (translation speed, issue 11).

Every node that routes to a target builds the same cluster for it (same DNS name, port, policies):
with 1,000 nodes x 5 backends that is thousands of identical protos built field by field in
Python. A memo keeps one per input and hands out copies (CopyFrom runs in C), so callers may
still mutate what they get (TLS, a gateway listener's policies). Only proto building is
memoized: the model lookups stay in the caller, so incremental.py still records every read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import TypeVar

from google.protobuf.message import Message

M = TypeVar("M", bound=Message)


class ProtoMemo:
    """Built protos by key, bounded (cleared when full: a rebuild is only slower).

    Keys hold values, or `id()`s of objects given in `keep`: the entry keeps those objects alive,
    so their ids cannot be reused by other objects while the entry exists."""

    def __init__(self, size: int = 8192):
        self._size = size
        self._built: dict[Hashable, tuple[tuple, Message]] = {}

    def copy(self, key: Hashable, build: Callable[[], M], keep: tuple = ()) -> M:
        entry = self._built.get(key)
        if entry is None:
            if len(self._built) >= self._size:
                self._built.clear()
            entry = self._built[key] = (keep, build())
        out = type(entry[1])()
        out.CopyFrom(entry[1])
        return out


def copied(maxsize: int = 1024) -> Callable[[Callable[..., M]], Callable[..., M]]:
    """Decorator: a proto builder of hashable arguments runs once per arguments; each call gets
    a copy (for the blocks every node has the same: filter chains, the DNS TCP relay)."""

    def wrap(build: Callable[..., M]) -> Callable[..., M]:
        cached = functools.lru_cache(maxsize=maxsize)(build)

        @functools.wraps(build)
        def copy(*args, **kwargs) -> M:
            built = cached(*args, **kwargs)
            out = type(built)()
            out.CopyFrom(built)
            return out

        return copy

    return wrap
