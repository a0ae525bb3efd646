"""APPMESH_* environment -> typed, validated redirector settings.

This is the contract App Mesh users already have in their task definitions and pod specs
(`aws-appmesh-proxy-route-manager`). Every check happens here, at the edge, and names the
variable and the value; the planner never sees (or silently drops) bad input.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from proxyinit.errors import ConfigError

ENV_PREFIX = "APPMESH_"
# The original route manager always appended 22 so an operator could still SSH out of a task
# whose rules were wrong; users rely on it, so we keep it (documented in README).
ALWAYS_IGNORED_PORT = 22
MAX_ID = 2**32 - 2  # (uid_t)-1 is "no id"; anything above is not a valid owner match.

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, order=True)
class PortRange:
    """A destination port or an inclusive range, as iptables multiport writes it (`a:b`)."""

    first: int
    last: int

    @property
    def multiport_slots(self) -> int:
        # multiport counts a range as two of its 15 entries (xt_multiport.h, XT_MULTI_PORTS).
        return 1 if self.first == self.last else 2

    def overlaps(self, other: "PortRange") -> bool:
        return self.first <= other.last and other.first <= self.last

    def contains(self, port: int) -> bool:
        return self.first <= port <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}:{self.last}"


def _blank_to_none(value: Any) -> Any:
    # ECS and Kubernetes manifests often carry `Value: ""` for "not set".
    if isinstance(value, str) and not value.strip():
        return None
    return value.strip() if isinstance(value, str) else value


def _parse_int(text: str, what: str, low: int, high: int) -> int:
    token = text.strip()
    if token.startswith("-") and token[1:].isdigit():
        raise ValueError(f"{what} {token} is negative")
    if not token.isdigit():
        raise ValueError(f"{what} {token!r} is not a number")
    number = int(token)
    if not low <= number <= high:
        raise ValueError(f"{what} {number} is outside {low}..{high}")
    return number


def parse_port(text: str) -> int:
    return _parse_int(text, "port", 1, 65535)


def parse_port_range(text: str) -> PortRange:
    token = text.strip()
    for sep in (":", "-"):
        if sep in token.lstrip("-"):
            first, _, last = token.partition(sep)
            if not first.strip() or not last.strip():
                raise ValueError(f"port range {token!r} is malformed (expected FIRST{sep}LAST)")
            low, high = parse_port(first), parse_port(last)
            if low >= high:
                raise ValueError(f"port range {token!r} is malformed (first must be below last)")
            return PortRange(low, high)
    port = parse_port(token)
    return PortRange(port, port)


def split_list(raw: str) -> list[str]:
    """Comma list; surrounding whitespace tolerated, empty items are an error (`9080,,9081`)."""
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise ValueError(f"empty item in list {raw!r}")
    return items


def parse_port_list(raw: str) -> tuple[PortRange, ...]:
    ranges: list[PortRange] = []
    for item in split_list(raw):
        candidate = parse_port_range(item)
        clash = next((seen for seen in ranges if seen.overlaps(candidate)), None)
        if clash is not None:
            raise ValueError(f"duplicate port {item!r} (overlaps {clash})")
        ranges.append(candidate)
    return tuple(ranges)


def parse_network(text: str) -> Network:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as err:
        if "/" in text and "has host bits set" in str(err):
            raise ValueError(f"CIDR {text!r} is not canonical (host bits set)") from None
        raise ValueError(f"{text!r} is not an IPv4/IPv6 address or CIDR") from None


def parse_network_list(raw: str) -> tuple[Network, ...]:
    networks: list[Network] = []
    for item in split_list(raw):
        network = parse_network(item)
        if network in networks:
            raise ValueError(f"duplicate address {item!r}")
        networks.append(network)
    return tuple(networks)


def parse_switch(raw: Any) -> bool:
    if raw in (None, "0"):
        return False
    if raw == "1":
        return True
    raise ValueError(f"{raw!r} is not 0 or 1")


class RedirectSettings(BaseSettings):
    """The APPMESH_* variables, read by pydantic-settings (names are the field names upper-cased)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, case_sensitive=True, frozen=True)

    START_ENABLED: Annotated[bool, NoDecode] = False
    IGNORE_UID: int | None = None
    IGNORE_GID: int | None = None
    ENVOY_EGRESS_PORT: int | None = None
    ENVOY_INGRESS_PORT: int | None = None
    APP_PORTS: Annotated[tuple[PortRange, ...], NoDecode] = ()
    EGRESS_IGNORED_IP: Annotated[tuple[Network, ...], NoDecode] = ()
    EGRESS_IGNORED_PORTS: Annotated[tuple[PortRange, ...], NoDecode] = ()
    ENABLE_IPV6: Annotated[bool, NoDecode] = False

    @field_validator("START_ENABLED", "ENABLE_IPV6", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> bool:
        return value if isinstance(value, bool) else parse_switch(_blank_to_none(value))

    @field_validator("IGNORE_UID", "IGNORE_GID", mode="before")
    @classmethod
    def _id(cls, value: Any) -> int | None:
        value = _blank_to_none(value)
        return None if value is None else _parse_int(str(value), "id", 0, MAX_ID)

    @field_validator("ENVOY_EGRESS_PORT", "ENVOY_INGRESS_PORT", mode="before")
    @classmethod
    def _port(cls, value: Any) -> int | None:
        value = _blank_to_none(value)
        return None if value is None else parse_port(str(value))

    @field_validator("APP_PORTS", "EGRESS_IGNORED_PORTS", mode="before")
    @classmethod
    def _ports(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        return () if value is None else parse_port_list(value) if isinstance(value, str) else value

    @field_validator("EGRESS_IGNORED_IP", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        return () if value is None else parse_network_list(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _cross_checks(self) -> "RedirectSettings":
        check_cross_field(self)
        return self


def check_cross_field(s: RedirectSettings) -> None:
    """Rules that involve two variables. Raises ValueError("APPMESH_X=...: why")."""
    if s.IGNORE_UID is None and s.IGNORE_GID is None:
        raise ValueError("APPMESH_IGNORE_UID or APPMESH_IGNORE_GID is required (Envoy's uid, usually 1337)")
    if s.ENVOY_EGRESS_PORT is None:
        raise ValueError("APPMESH_ENVOY_EGRESS_PORT is required (Envoy's egress listener, usually 15001)")
    if s.APP_PORTS and s.ENVOY_INGRESS_PORT is None:
        raise ValueError(f"APPMESH_ENVOY_INGRESS_PORT is required when APPMESH_APP_PORTS is set ({_ports_text(s.APP_PORTS)})")
    if s.ENVOY_INGRESS_PORT is not None and s.ENVOY_INGRESS_PORT == s.ENVOY_EGRESS_PORT:
        raise ValueError(f"APPMESH_ENVOY_INGRESS_PORT={s.ENVOY_INGRESS_PORT} equals APPMESH_ENVOY_EGRESS_PORT")
    envoy_ports = {p for p in (s.ENVOY_EGRESS_PORT, s.ENVOY_INGRESS_PORT) if p is not None}
    for name, ranges in (("APP_PORTS", s.APP_PORTS), ("EGRESS_IGNORED_PORTS", s.EGRESS_IGNORED_PORTS)):
        for port in sorted(envoy_ports):
            hit = next((r for r in ranges if r.contains(port)), None)
            if hit is not None:
                raise ValueError(f"APPMESH_{name}={_ports_text(ranges)}: {hit} includes Envoy's port {port}")


def _ports_text(ranges: tuple[PortRange, ...]) -> str:
    return ",".join(str(r) for r in ranges)


def _describe(error: dict[str, Any], env: dict[str, str]) -> str:
    loc = error.get("loc") or ()
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if not loc:  # model-level (cross-field) error already names its variables
        return message
    name = f"{ENV_PREFIX}{loc[0]}"
    return f"{name}={env.get(name, error.get('input'))!r}: {message}"


def load_settings(env: dict[str, str] | None = None) -> RedirectSettings:
    """Read and validate the APPMESH_* variables; ConfigError lists every problem found."""
    import os

    source = dict(os.environ) if env is None else env
    scoped = {k: v for k, v in source.items() if k.startswith(ENV_PREFIX)}
    try:
        settings = RedirectSettings() if env is None else _from_mapping(scoped)
    except ValidationError as err:
        problems = "; ".join(_describe(e, scoped) for e in err.errors(include_url=False))
        raise ConfigError(problems) from None
    warn_ipv6_while_disabled(settings)
    return settings


def _from_mapping(env: dict[str, str]) -> RedirectSettings:
    # For an explicit mapping (tests, a host agent): init kwargs and a prefix nothing uses, so
    # the process environment cannot leak in. Same validators as the os.environ path.
    fields = {k.removeprefix(ENV_PREFIX): v for k, v in env.items() if k.removeprefix(ENV_PREFIX) in RedirectSettings.model_fields}
    return RedirectSettings(_env_prefix="PROXYINIT_UNUSED_", **fields)


def warn_ipv6_while_disabled(settings: RedirectSettings) -> None:
    """The original accepted IPv6 entries with IPv6 off; we accept them too, but never silently."""
    if settings.ENABLE_IPV6:
        return
    v6 = [str(n) for n in settings.EGRESS_IGNORED_IP if n.version == 6]
    if v6:
        print(
            f"proxyinit: warning: APPMESH_EGRESS_IGNORED_IP has IPv6 entries {','.join(v6)} "
            "but APPMESH_ENABLE_IPV6 is not 1: they have no effect",
            file=sys.stderr,
        )
