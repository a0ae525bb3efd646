"""What `xds serve` bounds: connections per listener, gRPC keepalive and stream limits, and the
file descriptor limit raised at start.

An idle or slow client must not be able to stop the control plane: each HTTP listener (API,
debug, metrics) caps its connections and closes those that send nothing (bounds.ConnectionLimits);
the ADS server pings idle connections so a vanished Envoy's stream is noticed and dropped, and
ages connections out so Envoys spread again over replicas. Everything here is a `xds serve` flag.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field

from proxyinit.bounds import ConnectionLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeLimits:
    http: ConnectionLimits = field(default_factory=ConnectionLimits)
    grpc_keepalive_ms: int = 60_000
    grpc_keepalive_timeout_ms: int = 20_000
    # An Envoy's connection is closed (GOAWAY, then the grace) after this long; it reconnects
    # at once and is served its current snapshot again.
    grpc_max_connection_age_ms: int = 3_600_000
    grpc_max_connection_age_grace_ms: int = 300_000
    grpc_max_concurrent_streams: int = 100  # per connection; an Envoy opens one ADS stream
    xds_max_streams: int = 50_000  # per server; past it a new stream is refused RESOURCE_EXHAUSTED

    def grpc_options(self) -> list[tuple[str, object]]:
        from proxyinit.xds.server import NO_BDP_PINGS

        return [
            ("grpc.keepalive_time_ms", self.grpc_keepalive_ms),
            ("grpc.keepalive_timeout_ms", self.grpc_keepalive_timeout_ms),
            # gRPC's default (2) stops the server's pings on a stream that sends nothing, which an
            # idle ADS stream does for hours: its Envoy could vanish unnoticed.
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.max_connection_age_ms", self.grpc_max_connection_age_ms),
            ("grpc.max_connection_age_grace_ms", self.grpc_max_connection_age_grace_ms),
            ("grpc.max_concurrent_streams", self.grpc_max_concurrent_streams),
            *NO_BDP_PINGS,
        ]


def raise_open_files_limit() -> tuple[int, int]:
    """RLIMIT_NOFILE soft -> hard (each Envoy and API client is a descriptor); (before, after)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.info("open files limit (RLIMIT_NOFILE) raised from %d to %d", soft, hard)
        return soft, hard
    return soft, soft


def add_arguments(serve: argparse.ArgumentParser) -> None:
    defaults, http = ServeLimits(), ConnectionLimits()
    group = serve.add_argument_group("connection limits")
    for flag, default, help_ in (
        ("--http-max-connections", http.max_connections, "per HTTP listener (API, debug, metrics); past it: 503 and closed"),
        ("--http-header-timeout", http.header_timeout, "seconds a new HTTP connection has to send its request head"),
        ("--http-keep-alive", http.keep_alive, "seconds an idle HTTP keep-alive connection is kept"),
        ("--grpc-keepalive-ms", defaults.grpc_keepalive_ms, "ADS: ping an idle connection after this long"),
        ("--grpc-keepalive-timeout-ms", defaults.grpc_keepalive_timeout_ms, "ADS: close it if the ping is not answered within this"),
        ("--grpc-max-connection-age-ms", defaults.grpc_max_connection_age_ms, "ADS: close a connection this old (the Envoy reconnects)"),
        ("--grpc-max-connection-age-grace-ms", defaults.grpc_max_connection_age_grace_ms, "ADS: grace for its streams after that"),
        ("--grpc-max-concurrent-streams", defaults.grpc_max_concurrent_streams, "ADS: streams per connection"),
        ("--xds-max-streams", defaults.xds_max_streams, "ADS: streams in all; past it a new one is refused"),
    ):  # fmt: skip
        group.add_argument(flag, default=str(default), help=f"{help_} (default {default})")


def from_args(args: argparse.Namespace) -> ServeLimits:
    """ServeLimits from the flags; ConfigError naming the flag and value if one is not positive."""
    http = ConnectionLimits(
        _number(args.http_max_connections, "--http-max-connections", int),
        _number(args.http_header_timeout, "--http-header-timeout", float),
        _number(args.http_keep_alive, "--http-keep-alive", float),
    )
    names = (
        "grpc_keepalive_ms",
        "grpc_keepalive_timeout_ms",
        "grpc_max_connection_age_ms",
        "grpc_max_connection_age_grace_ms",
        "grpc_max_concurrent_streams",
        "xds_max_streams",
    )
    flags = {n: _number(getattr(args, n), "--" + n.replace("_", "-"), int) for n in names}
    return ServeLimits(http, **flags)


def _number(raw: str, flag: str, kind: type):
    import math

    from proxyinit.contract import echo, parse_int  # the one strict number parser
    from proxyinit.errors import ConfigError

    if kind is int:
        try:
            return parse_int(raw, flag, 1, 2**31 - 1)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value <= 86400:  # False for nan too
        raise ConfigError(f"{flag}={echo(raw)}: expected seconds from 0 to 86400")
    return value
