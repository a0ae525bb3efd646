"""Virtual node listener policies of the App Mesh 2019-01-25 model (issue 9): `healthCheck`,
`connectionPool`, `outlierDetection`.

Bounds are the API model's (botocore `HealthCheckPolicy`); the rules the model does not encode
but App Mesh enforced are in the validators, each with where it is documented.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from proxyinit.mesh.model.base import ApiModel, Duration, Int, Protocol

# The API's MaxConnections / MaxRequests / MaxPendingRequests are 32-bit Integers.
_INT32 = 2**31 - 1
# Envoy's HttpHealthCheck.path is a header value: it refuses these (tab is allowed).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class HealthCheckPolicy(ApiModel):
    """Active health checks of the local application, run by the node's own Envoy."""

    healthy_threshold: Int = Field(ge=2, le=10)
    unhealthy_threshold: Int = Field(ge=2, le=10)
    interval_millis: Int = Field(ge=5000, le=300_000)
    timeout_millis: Int = Field(ge=2000, le=60_000)
    protocol: Protocol
    path: str | None = Field(default=None, min_length=1)
    port: Int | None = Field(default=None, ge=1, le=65535)

    @field_validator("path")
    @classmethod
    def _header_value(cls, path: str | None) -> str | None:
        if path is not None and _CONTROL.search(path):
            raise ValueError("must not contain a control character (it is sent as a header)")
        return path

    @model_validator(mode="after")
    def _http_needs_path(self) -> HealthCheckPolicy:
        # The API refused an http (and, from 2020, http2) check without a path
        # (aws-app-mesh-roadmap#199); for tcp and grpc the path is ignored (API Reference).
        if self.protocol in ("http", "http2") and self.path is None:
            raise ValueError(f"path is required when the protocol is {self.protocol!r}")
        return self


class _ConnectionLimit(ApiModel):
    max_connections: Int = Field(ge=1, le=_INT32)


class HttpConnectionPool(_ConnectionLimit):
    max_pending_requests: Int | None = Field(default=None, ge=1, le=_INT32)


class RequestConnectionPool(ApiModel):
    """VirtualNodeHttp2ConnectionPool and VirtualNodeGrpcConnectionPool (the same shape)."""

    max_requests: Int = Field(ge=1, le=_INT32)


class ConnectionPool(ApiModel):
    """A union in the API: one member, the listener's protocol (checked on the Listener)."""

    http: HttpConnectionPool | None = None
    http2: RequestConnectionPool | None = None
    grpc: RequestConnectionPool | None = None
    tcp: _ConnectionLimit | None = None

    @model_validator(mode="after")
    def _one(self) -> ConnectionPool:
        if len(self.given()) != 1:
            raise ValueError(
                "give exactly one of ['http', 'http2', 'grpc', 'tcp'] in connectionPool"
            )
        return self

    def given(self) -> list[str]:
        return [name for name, value in self if value is not None]


class OutlierDetection(ApiModel):
    max_server_errors: Int = Field(ge=1, le=2**32 - 1)  # Envoy's consecutive_5xx is a UInt32
    max_ejection_percent: Int = Field(ge=0, le=100)
    interval: Duration
    base_ejection_duration: Duration

    @model_validator(mode="after")
    def _positive_durations(self) -> OutlierDetection:
        # Envoy requires both to be above 0 (a 0 would be NACKed).
        for name, value in (
            ("interval", self.interval),
            ("baseEjectionDuration", self.base_ejection_duration),
        ):
            if value.milliseconds() == 0:
                raise ValueError(f"outlierDetection.{name} must be above 0")
        return self
