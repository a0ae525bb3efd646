"""Shared pieces of the App Mesh model: the pydantic base class and small value shapes.

Field names follow the App Mesh 2019-01-25 API model (botocore `appmesh/2019-01-25/service-2.json`):
Python attributes are snake_case, the JSON on the wire is camelCase (aliases).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator
from pydantic.alias_generators import to_camel

# PortProtocol enum of the API ("http", "tcp", "http2", "grpc").
Protocol = Literal["http", "http2", "grpc", "tcp"]
# An HTTP header name (RFC 7230 token), plus ':' so pseudo-headers such as ':authority' can match.
HeaderName = Annotated[
    str, Field(min_length=1, max_length=50, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z:-]+$")
]

# ResourceName: 1..255 characters in the API. The node id regex of proxyinit.xds.types is stricter
# (it must survive `mesh/<mesh>/virtualNode/<node>`), so mesh and node names use that charset.
ResourceName = Annotated[
    str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
# Virtual service names are DNS names; they become Envoy virtual host domains, where `*` has a
# meaning of its own, so it is refused (ServiceName has no bound in the API; 253 is DNS's).
ServiceName = Annotated[
    str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]


# JSON types are exact, as App Mesh's API checked them: `true` or `"5"` is no integer and `"true"`
# no boolean (pydantic's lax mode would take all three). Every int/bool field uses these.
Int = StrictInt
Bool = StrictBool

_MAX_DURATION_MS = 315_576_000_000 * 1000
_INT64 = 2**63 - 1


class ApiModel(BaseModel):
    """Base for every App Mesh shape: camelCase JSON, immutable, unknown fields refused.

    Unknown fields are refused rather than ignored: a field App Mesh knows and we do not
    (tls, healthCheck, outlierDetection...) must not be silently dropped (STYLE.md rule 5).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
    )

    def to_api(self) -> dict:
        """The App Mesh JSON shape (camelCase, unset optional fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Duration(ApiModel):
    """Duration {unit: s|ms, value}. Both are optional in the API; a half duration means nothing."""

    unit: Literal["s", "ms"]
    value: Int = Field(ge=0)

    @model_validator(mode="after")
    def _fits_protobuf(self) -> Duration:
        # google.protobuf.Duration holds at most 315,576,000,000 s (10,000 years).
        if self.milliseconds() > _MAX_DURATION_MS:
            raise ValueError(
                f"duration {self.value}{self.unit} is longer than Envoy can hold (10,000 years)"
            )
        return self

    def milliseconds(self) -> int:
        return self.value * 1000 if self.unit == "s" else self.value


class PortMapping(ApiModel):
    port: Int = Field(ge=1, le=65535)
    protocol: Protocol


class MatchRange(ApiModel):
    """Half-open range [start, end): the API documents 1-100 as matching 1..99."""

    start: Int = Field(ge=-_INT64 - 1, le=_INT64)  # Envoy's Int64Range
    end: Int = Field(ge=-_INT64 - 1, le=_INT64)

    @model_validator(mode="after")
    def _not_empty(self) -> MatchRange:
        if self.end <= self.start:
            raise ValueError(f"range end {self.end} must be greater than start {self.start}")
        return self


class HttpTimeout(ApiModel):
    idle: Duration | None = None
    per_request: Duration | None = None


class TcpTimeout(ApiModel):
    idle: Duration | None = None
