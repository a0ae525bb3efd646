"""proxyinit/records.py behaves as typing.NamedTuple and enum.Enum do where the init path uses
them (it exists only so that path imports neither typing nor enum)."""

from __future__ import annotations

import copy
import enum
import json
import pickle
import typing

import pytest

from proxyinit import records


class Real(str, enum.Enum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"


class Ours(str, records.Enum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"


def shown(member) -> list:
    return [repr(member), str(member), f"{member:>4}", format(member), member.name, member.value]


def test_enum_members_look_the_same():
    for real, ours in zip(Real, Ours, strict=True):
        assert [s.replace("Real", "X") for s in shown(real)] == [
            s.replace("Ours", "X") for s in shown(ours)
        ]
        assert json.dumps(ours) == json.dumps(real) and ours == real.value
        assert hash(ours) == hash(real.value) and isinstance(ours, str)


def test_enum_lookup_order_copy_and_pickle():
    assert list(Ours) == [Ours.IPV4, Ours.IPV6] and len(Ours) == 2
    assert Ours("ipv6") is Ours.IPV6 and Ours["IPV4"] is Ours.IPV4
    with pytest.raises(ValueError, match="'ipv5' is not a valid Ours"):
        Ours("ipv5")
    assert copy.copy(Ours.IPV4) is Ours.IPV4 and copy.deepcopy(Ours.IPV6) is Ours.IPV6
    assert pickle.loads(pickle.dumps(Ours.IPV6)) is Ours.IPV6
    assert {Ours.IPV4: 1}[Ours("ipv4")] == 1 and Ours.IPV4 is not Ours.IPV6


class RealPoint(typing.NamedTuple):
    x: int
    y: int = 2

    @property
    def total(self) -> int:
        return self.x + self.y


class OurPoint(records.NamedTuple):
    """A point."""

    x: int
    y: int = 2

    @property
    def total(self) -> int:
        return self.x + self.y


def test_named_tuples_match():
    assert OurPoint(1) == RealPoint(1) == (1, 2) and OurPoint(1).total == 3
    assert OurPoint._fields == RealPoint._fields and OurPoint(1)._replace(y=5) == (1, 5)
    assert repr(OurPoint(1, 3)) == "OurPoint(x=1, y=3)" and OurPoint.__doc__ == "A point."
    assert pickle.loads(pickle.dumps(OurPoint(4))) == OurPoint(4)
    with pytest.raises(TypeError):

        class Bad(records.NamedTuple):
            x: int = 1
            y: int


class RealPair(typing.NamedTuple):
    left: str
    right: tuple = ()


class OurPair(records.NamedTuple):
    left: str
    right: tuple = ()


class RealOne(typing.NamedTuple):
    only: int


class OurOne(records.NamedTuple):
    only: int


class OurNone(records.NamedTuple):
    pass


def same(real) -> str:
    """`real` (typing's) with its class names as ours are called, to compare texts."""
    return str(real).replace("RealPoint", "OurPoint").replace("RealOne", "OurOne")


def raised(call) -> str:
    try:
        call()
    except Exception as err:  # the comparison is of the exception's type and text
        return f"{type(err).__name__}: {err}"
    raise AssertionError("no exception")


def test_construction_like_typing():
    assert OurPoint(y=3, x=1) == RealPoint(y=3, x=1) == (1, 3)
    assert OurPoint(1)._fields == ("x", "y") and OurPoint.__match_args__ == ("x", "y")
    assert OurPoint._field_defaults == RealPoint._field_defaults == {"y": 2}
    assert OurPoint.__new__.__defaults__ == RealPoint.__new__.__defaults__ == (2,)
    assert OurOne(5) == RealOne(5) == (5,) and OurOne(5).only == 5 and OurNone() == ()
    assert OurPair("a").right == () and OurPair._field_defaults == RealPair._field_defaults
    for real, ours in [
        (lambda: RealPoint(), lambda: OurPoint()),  # a missing argument
        (lambda: RealPoint(1, 2, 3), lambda: OurPoint(1, 2, 3)),
        (lambda: RealPoint(1, z=3), lambda: OurPoint(1, z=3)),
        (lambda: RealPoint._make([1]), lambda: OurPoint._make([1])),
        (lambda: RealPoint(1)._replace(z=1), lambda: OurPoint(1)._replace(z=1)),
        (lambda: setattr(RealPoint(1), "x", 3), lambda: setattr(OurPoint(1), "x", 3)),
        (lambda: setattr(RealPoint(1), "z", 3), lambda: setattr(OurPoint(1), "z", 3)),
    ]:
        assert raised(ours) == same(raised(real))
    assert "missing 1 required positional argument: 'x'" in raised(lambda: OurPoint())


def test_methods_like_typing():
    point, real = OurPoint(1, 3), RealPoint(1, 3)
    assert repr(point) == same(repr(real)) and repr(OurOne(1)) == "OurOne(only=1)"
    assert point._asdict() == real._asdict() == {"x": 1, "y": 3}
    assert type(point._asdict()) is dict and point._make([4, 5]) == OurPoint(4, 5)
    assert type(point._replace(x=9)) is OurPoint and point._replace(x=9) == (9, 3)
    assert point.__getnewargs__() == (1, 3) and type(point.__getnewargs__()) is tuple
    assert not hasattr(point, "__dict__") and OurPoint.__slots__ == ()
    assert isinstance(point, tuple) and OurPoint.__bases__ == RealPoint.__bases__ == (tuple,)
    assert hash(point) == hash(real) == hash((1, 3)) and point == real and point != (3, 1)
    assert {point: "a"}[(1, 3)] == "a" and point < OurPoint(2, 0) and point[1] == point.y
    assert OurPoint.x.__doc__ == RealPoint.x.__doc__ == "Alias for field number 0"
    assert OurPair.__doc__ == "OurPair(left, right)" and RealPair.__doc__ == "RealPair(left, right)"
    assert (OurPoint.__module__, OurPoint.__qualname__) == (__name__, "OurPoint")
    assert OurPoint._make.__qualname__ == "OurPoint._make" and OurPoint.total.__doc__ is None


def test_pickle_copy_and_match():
    for value in (OurPoint(1, [2]), OurPair("a", (OurOne(3),)), OurNone()):
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            again = pickle.loads(pickle.dumps(value, protocol))
            assert again == value and type(again) is type(value)
        assert copy.copy(value) == value and type(copy.copy(value)) is type(value)
        assert copy.deepcopy(value) == value
    deep = copy.deepcopy(OurPoint(1, [2]))
    assert deep.y == [2] and deep.y is not OurPoint(1, [2]).y
    match OurPoint(1, 3):
        case OurPoint(1, y=y) if y == 3:
            matched = "positional and keyword"
        case _:
            matched = "nothing"
    assert matched == "positional and keyword"
    match OurPair("a"):
        case OurPair(left, right):
            assert (left, right) == ("a", ())


def test_class_body_rules_like_typing():
    def nested():
        class Inner(records.NamedTuple):
            """Inner's own."""

            a: int
            LIMIT = 3  # not annotated: a class attribute, not a field

            def twice(self) -> int:
                return 2 * self.a

            @classmethod
            def zero(cls):
                return cls(0)

        return Inner

    inner = nested()
    assert inner.__qualname__ == "test_class_body_rules_like_typing.<locals>.nested.<locals>.Inner"
    assert inner._fields == ("a",) and inner.LIMIT == 3 and inner(4).twice() == 8
    assert inner.zero() == (0,) and inner.__doc__ == "Inner's own."
    with pytest.raises(AttributeError, match="Cannot overwrite NamedTuple attribute _make"):

        class Make(records.NamedTuple):
            a: int

            def _make(self):
                return self

    with pytest.raises(ValueError, match="cannot start with an underscore: '_a'"):

        class Private(records.NamedTuple):
            _a: int

    class Sub(OurPoint):
        def norm(self) -> int:
            return abs(self.x) + abs(self.y)

    assert Sub(-1).norm() == 3 and repr(Sub(1)) == "Sub(x=1, y=2)"


def test_the_fallback_field_property(monkeypatch):
    """An interpreter without `_collections._tuplegetter`: plain properties, same behaviour."""
    monkeypatch.setattr(records, "_tuplegetter", records._field_property)

    class Slow(records.NamedTuple):
        a: int
        b: str = "b"

    assert type(Slow.__dict__["a"]) is property and Slow(1).b == "b" and Slow(1, "c").b == "c"
    assert Slow.a.__doc__ == "Alias for field number 0" and Slow(1)._replace(a=2).a == 2
    with pytest.raises(AttributeError):
        Slow(1).a = 2


def test_importing_records_imports_neither_typing_nor_collections():
    """Their import costs are what records.py exists to avoid (a fresh interpreter)."""
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, proxyinit.records; print(' '.join(sorted(sys.modules)))"
    root = Path(__file__).resolve().parents[2]
    argv = [sys.executable, "-S", "-c", code]
    proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=30, check=True)
    names = set(proc.stdout.split())
    assert "proxyinit.records" in names
    assert {"typing", "collections", "enum", "functools"} & names == set()
