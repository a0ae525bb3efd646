"""`class X(NamedTuple):` without importing typing, `class X(str, Enum):` without enum.

typing costs ~3-4 ms of the init container's start-up (a whole `proxyinit` run is ~25 ms),
and its NamedTuple is only class syntax over `collections.namedtuple`: fields from the
annotations, defaults from the class body, methods and properties copied on. This is that and
nothing else, and it builds the tuple class itself as namedtuple does: importing `collections`
costs ~2.4 ms more (operator, keyword, reprlib, its deque and OrderedDict), for one function.
The field properties are namedtuple's own C descriptors (`_collections` is built into the
interpreter: no import cost) and `__new__` is compiled as namedtuple compiles it (a lambda,
the fastest constructor: 1,000 PortRanges at N = 1,000). enum costs ~2 ms more for two small
string enums (firewall/model.py): Enum here is what those use of it (members in order, lookup
by value and name, name/value, repr, str, pickling to the same member). Type checkers see the
real ones (the TYPE_CHECKING branch).
"""

from __future__ import annotations


def _field_property(index: int, doc: str) -> property:
    """What `_tuplegetter` is, for an interpreter without it (a little slower)."""
    return property(lambda self: self[index], doc=doc)


try:
    from _collections import _tuplegetter
except ImportError:
    _tuplegetter = _field_property

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
# As typing.NamedTuple: these come from the class statement, never copied onto the record...
_SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})
# ...and these are the record's own: a class body defining one is refused.
_PROHIBITED = frozenset(
    {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults"}
    | {"_make", "_replace", "_asdict", "_source"}
)


def _fields_and_defaults(name: str, namespace: dict) -> tuple[tuple[str, ...], tuple]:
    """The annotated names in order, and the defaults of the last ones (typing's rules)."""
    fields = tuple(namespace.get("__annotations__", {}))
    with_default = [field for field in fields if field in namespace]
    if any(field not in namespace for field in fields[len(fields) - len(with_default) :]):
        raise TypeError(f"{name}: a field without a default follows one with a default")
    for field in fields:
        if field.startswith("_"):
            raise ValueError(f"Field names cannot start with an underscore: {field!r}")
    return fields, tuple(namespace[field] for field in with_default)


def _tuple_class(name: str, fields: tuple[str, ...], defaults: tuple) -> type:
    """collections.namedtuple(name, fields, defaults=defaults), minus its module."""
    count, tuple_new = len(fields), tuple.__new__
    arguments = ", ".join(fields) + ("," if count == 1 else "")
    code = f"lambda _cls, {arguments}: _tuple_new(_cls, ({arguments}))"
    scope = {"_tuple_new": tuple_new, "__builtins__": {}, "__name__": f"namedtuple_{name}"}
    new = eval(code, scope)  # built from checked identifiers only, as namedtuple does
    new.__name__, new.__doc__ = "__new__", f"Create new instance of {name}({arguments})"
    new.__defaults__ = defaults or None
    shown = "(" + ", ".join(f"{field}=%r" for field in fields) + ")"

    @classmethod
    def _make(cls, iterable):
        result = tuple_new(cls, iterable)
        if len(result) != count:
            raise TypeError(f"Expected {count} arguments, got {len(result)}")
        return result

    def _replace(self, /, **changes):
        result = self._make(map(changes.pop, fields, self))
        if changes:
            raise ValueError(f"Got unexpected field names: {list(changes)!r}")
        return result

    def __repr__(self):
        return self.__class__.__name__ + shown % self

    def _asdict(self):
        return dict(zip(self._fields, self, strict=True))

    def __getnewargs__(self):
        return tuple(self)

    methods = (new, _make.__func__, _replace, __repr__, _asdict, __getnewargs__)
    for method in methods:
        method.__qualname__ = f"{name}.{method.__name__}"
    namespace = {
        "__doc__": f"{name}({arguments})",
        "__slots__": (),
        "_fields": fields,
        "_field_defaults": dict(zip(fields[count - len(defaults) :], defaults, strict=True)),
        "__new__": new,
        "_make": _make,
        "_replace": _replace,
        "__repr__": __repr__,
        "_asdict": _asdict,
        "__getnewargs__": __getnewargs__,
        "__match_args__": fields,
    }
    for index, field in enumerate(fields):
        namespace[field] = _tuplegetter(index, f"Alias for field number {index}")
    return type(name, (tuple,), namespace)


class _RecordMeta(type):
    def __new__(mcls, name: str, bases: tuple, namespace: dict):
        if not bases:  # the NamedTuple base itself
            return super().__new__(mcls, name, bases, namespace)
        if len(bases) > 1:
            raise TypeError("can only inherit from a NamedTuple type")
        fields, defaults = _fields_and_defaults(name, namespace)
        cls = _tuple_class(name, fields, defaults)
        cls.__module__ = namespace["__module__"]  # for pickle, as namedtuple's module=
        for key, value in namespace.items():
            if key in _PROHIBITED:
                raise AttributeError(f"Cannot overwrite NamedTuple attribute {key}")
            if key not in _SPECIAL and key not in fields:
                setattr(cls, key, value)  # methods, properties, __qualname__, __doc__
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
