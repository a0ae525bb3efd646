"""`class X(NamedTuple):` without importing typing.

typing costs ~3-4 ms of the init container's start-up (a whole `proxyinit` run is ~30-40 ms),
and its NamedTuple is only class syntax over `collections.namedtuple`: fields from the
annotations, defaults from the class body, methods and properties copied on. This is that and
nothing else. Type checkers see typing.NamedTuple itself (the TYPE_CHECKING branch).
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
_SPECIAL = frozenset({"__module__", "__qualname__", "__annotations__"})


class _RecordMeta(type):
    def __new__(mcls, name: str, bases: tuple, namespace: dict):
        if not bases:  # the NamedTuple base itself
            return super().__new__(mcls, name, bases, namespace)
        fields = list(namespace.get("__annotations__", {}))
        defaults = [namespace[field] for field in fields if field in namespace]
        if any(field not in namespace for field in fields[len(fields) - len(defaults) :]):
            raise TypeError(f"{name}: a field without a default follows one with a default")
        cls = namedtuple(name, fields, defaults=defaults, module=namespace["__module__"])
        for key, value in namespace.items():
            if key not in _SPECIAL and key not in fields:
                setattr(cls, key, value)
        cls.__annotations__ = namespace.get("__annotations__", {})
        return cls


if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:

    class NamedTuple(metaclass=_RecordMeta):
        """Base for `class X(NamedTuple): field: type = default` records."""
