"""`class X(NamedTuple):` without importing typing, `class X(str, Enum):` without enum.

typing costs ~3-4 ms of the init container's start-up (a whole `proxyinit` run is ~30 ms),
and its NamedTuple is only class syntax over `collections.namedtuple`: fields from the
annotations, defaults from the class body, methods and properties copied on. This is that and
nothing else. enum costs ~2 ms more for two small string enums (firewall/model.py): Enum here
is what those use of it (members in order, lookup by value and name, name/value, repr, str,
pickling to the same member). Type checkers see the real ones (the TYPE_CHECKING branch).
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


class _EnumMeta(type):
    def __new__(mcls, name: str, bases: tuple, namespace: dict):
        members = [
            (k, v) for k, v in namespace.items() if not k.startswith("_") and isinstance(v, str)
        ]
        for key, _ in members:
            del namespace[key]
        cls = super().__new__(mcls, name, bases, namespace)
        if not members:  # the Enum base itself
            return cls
        for method in ("__repr__", "__str__", "__format__", "__reduce_ex__"):
            # str's would come first in the MRO of `class X(str, Enum)`: Enum's win, as in enum.
            if method not in namespace:
                setattr(cls, method, getattr(_EnumBase, method))
        cls._member_map_ = {}
        for key, value in members:
            member = str.__new__(cls, value)
            member._name_, member._value_ = key, value
            cls._member_map_[key] = member
            setattr(cls, key, member)
        return cls

    def __iter__(cls):
        return iter(cls._member_map_.values())

    def __len__(cls) -> int:
        return len(cls._member_map_)

    def __getitem__(cls, name: str):
        return cls._member_map_[name]

    def __call__(cls, value):
        for member in cls._member_map_.values():
            if member._value_ == value:
                return member
        raise ValueError(f"{value!r} is not a valid {cls.__qualname__}")


class _EnumBase(metaclass=_EnumMeta):
    _name_: str
    _value_: str

    @property
    def name(self) -> str:
        return self._name_

    @property
    def value(self) -> str:
        return self._value_

    def __repr__(self) -> str:
        return f"<{type(self).__name__}.{self._name_}: {self._value_!r}>"

    def __str__(self) -> str:
        return f"{type(self).__name__}.{self._name_}"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __reduce_ex__(self, protocol):
        return type(self), (self._value_,)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


if TYPE_CHECKING:
    from enum import Enum as Enum
    from typing import NamedTuple as NamedTuple
else:
    Enum = _EnumBase

    class NamedTuple(metaclass=_RecordMeta):
        """Base for `class X(NamedTuple): field: type = default` records."""
