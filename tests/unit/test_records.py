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
