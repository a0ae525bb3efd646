"""Virtual node listener policies of the App Mesh 2019-01-25 model (issue 9): `healthCheck`.

Bounds are the API model's (botocore `HealthCheckPolicy`); the rules the model does not encode
but App Mesh enforced are in the validators, each with where it is documented.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from proxyinit.mesh.model.base import ApiModel, Protocol


class HealthCheckPolicy(ApiModel):
    """Active health checks of the local application, run by the node's own Envoy."""

    healthy_threshold: int = Field(ge=2, le=10)
    unhealthy_threshold: int = Field(ge=2, le=10)
    interval_millis: int = Field(ge=5000, le=300_000)
    timeout_millis: int = Field(ge=2000, le=60_000)
    protocol: Protocol
    path: str | None = Field(default=None, min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)

    @model_validator(mode="after")
    def _http_needs_path(self) -> HealthCheckPolicy:
        # The API refused an http (and, from 2020, http2) check without a path
        # (aws-app-mesh-roadmap#199); for tcp and grpc the path is ignored (API Reference).
        if self.protocol in ("http", "http2") and self.path is None:
            raise ValueError(f"path is required when the protocol is {self.protocol!r}")
        return self
