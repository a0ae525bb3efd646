"""`HOST:PORT` / `[V6]:PORT` / `unix:///PATH` endpoints, parsed once at the edge. Stdlib only."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from proxyinit.contract import echo, parse_port
from proxyinit.errors import ConfigError


@dataclass(frozen=True)
class Endpoint:
    """A TCP host/port or a unix socket path (exactly one of the two)."""

    host: str = ""
    port: int = 0
    unix_path: str = ""

    @property
    def is_unix(self) -> bool:
        return bool(self.unix_path)

    @property
    def is_ip_literal(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True

    @property
    def is_loopback(self) -> bool:
        if self.is_unix:
            return True
        if self.host == "localhost":
            return True
        return self.is_ip_literal and ipaddress.ip_address(self.host).is_loopback

    def grpc_target(self) -> str:
        """The form `grpc.aio` takes for binding and dialling."""
        if self.is_unix:
            return f"unix://{self.unix_path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return self.grpc_target()


def parse_endpoint(
    raw: str, what: str, *, allow_unix: bool = True, allow_port_zero: bool = False
) -> Endpoint:
    """Parse `raw`; `what` names the flag or variable in the ConfigError (e.g. "--xds")."""
    value = (raw or "").strip()
    if value.startswith("unix://"):
        path = value[len("unix://") :]
        if not allow_unix:
            raise ConfigError(
                f"{what}={echo(raw)}: a unix socket is not supported here; use HOST:PORT"
            )
        if not path.startswith("/"):
            raise ConfigError(f"{what}={echo(raw)}: expected unix:///ABSOLUTE/PATH")
        return Endpoint(unix_path=path)
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{what}={echo(raw)}: expected HOST:PORT, [IPV6]:PORT or unix:///PATH")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(
            f"{what}={echo(raw)}: an IPv6 address must be bracketed, as in [::1]:15010"
        )
    try:
        port = parse_port(port_text, allow_zero=allow_port_zero)
    except ValueError as err:
        raise ConfigError(f"{what}={echo(raw)}: {err}") from None
    return Endpoint(host=host, port=port)
