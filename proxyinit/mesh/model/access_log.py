"""`logging.accessLog` of a virtual node (App Mesh 2019-01-25 `Logging`), and its format check.

App Mesh passed the format to Envoy unchecked ("make sure that your input pattern is valid for
Envoy, or Envoy will reject the update", user guide > Logging): the update then sat in an error
state. Here a format Envoy would refuse is a BadRequest naming the field, so nothing accepted is
NACKed. The check is Envoy's command-operator grammar, `%NAME%`, `%NAME(args)%`, `%NAME(args):N%`
and `%%`, with NAME one of Envoy's access log command operators.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from proxyinit.mesh.model.base import ApiModel

# Envoy's access log command operators (docs: configuration/observability/access_log/usage),
# by the forms Envoy 1.40 accepts: `%OP%`, `%OP(params)%`, `%OP(params):N%`, `%OP:N%`. Each list
# was checked against `envoy --mode validate` (tests/mesh/test_mesh_envoy_validate.py keeps it so).
_SIDES = ("DOWNSTREAM", "UPSTREAM")


def _names(text: str) -> list[str]:
    return text.split()


_BARE = frozenset(
    [
        f"{side}_{name}"
        for side in _SIDES
        for name in _names(
            "LOCAL_ADDRESS LOCAL_PORT REMOTE_ADDRESS REMOTE_PORT TLS_CIPHER TLS_VERSION "
            "TLS_SESSION_ID TLS_GROUP PEER_SUBJECT PEER_ISSUER PEER_URI_SAN PEER_DNS_SAN "
            "PEER_IP_SAN PEER_CERT LOCAL_URI_SAN LOCAL_DNS_SAN LOCAL_IP_SAN "
            "TRANSPORT_FAILURE_REASON WIRE_BYTES_SENT WIRE_BYTES_RECEIVED HEADER_BYTES_SENT "
            "HEADER_BYTES_RECEIVED DECOMPRESSED_HEADER_BYTES_SENT "
            "DECOMPRESSED_HEADER_BYTES_RECEIVED LOCAL_CLOSE_REASON DETECTED_CLOSE_TYPE"
        )
    ]
    + _names(
        "ACCESS_LOG_TYPE BYTES_RECEIVED BYTES_RETRANSMITTED BYTES_SENT CONNECTION_ID "
        "CONNECTION_TERMINATION_DETAILS CUSTOM_FLAGS DOWNSTREAM_CX_RTT "
        "DOWNSTREAM_DIRECT_LOCAL_ADDRESS DOWNSTREAM_DIRECT_LOCAL_PORT "
        "DOWNSTREAM_DIRECT_REMOTE_ADDRESS DOWNSTREAM_DIRECT_REMOTE_PORT "
        "DOWNSTREAM_HANDSHAKE_DURATION DOWNSTREAM_LOCAL_EMAIL_SAN DOWNSTREAM_LOCAL_OTHERNAME_SAN "
        "DOWNSTREAM_LOCAL_SUBJECT DOWNSTREAM_PEER_CHAIN_FINGERPRINTS_1 "
        "DOWNSTREAM_PEER_CHAIN_FINGERPRINTS_256 DOWNSTREAM_PEER_CHAIN_SERIALS "
        "DOWNSTREAM_PEER_EMAIL_SAN DOWNSTREAM_PEER_FINGERPRINT_1 DOWNSTREAM_PEER_FINGERPRINT_256 "
        "DOWNSTREAM_PEER_ISSUER_SERIAL DOWNSTREAM_PEER_OTHERNAME_SAN DOWNSTREAM_PEER_SERIAL "
        "DURATION GRPC_STATUS GRPC_STATUS_NUMBER HOSTNAME LOCAL_REPLY_BODY PROTOCOL "
        "REQUESTED_SERVER_NAME REQUEST_DURATION REQUEST_HEADERS_BYTES REQUEST_TX_DURATION "
        "RESPONSE_CODE RESPONSE_DURATION RESPONSE_FLAGS RESPONSE_FLAGS_LONG "
        "RESPONSE_HEADERS_BYTES RESPONSE_TRAILERS_BYTES RESPONSE_TX_DURATION ROUTE_NAME "
        "STREAM_ID TRACE_ID UNIQUE_ID UPSTREAM_CLUSTER UPSTREAM_CLUSTER_RAW "
        "UPSTREAM_CONNECTION_ID UPSTREAM_CONNECTION_IDS_ATTEMPTED "
        "UPSTREAM_CONNECTION_POOL_READY_DURATION UPSTREAM_HOST UPSTREAM_HOSTS_ATTEMPTED "
        "UPSTREAM_HOSTS_ATTEMPTED_WITHOUT_PORT UPSTREAM_HOST_NAME "
        "UPSTREAM_HOST_NAME_WITHOUT_PORT UPSTREAM_PROTOCOL UPSTREAM_REQUEST_ATTEMPT_COUNT "
        "VIRTUAL_CLUSTER_NAME"
    )
)
_BARE_OR_PARAMS = frozenset(
    [f"{side}_{name}" for side in _SIDES for name in ("PEER_CERT_V_START", "PEER_CERT_V_END")]
    + [f"{side}_{name}_ADDRESS_WITHOUT_PORT" for side in _SIDES for name in ("LOCAL", "REMOTE")]
    + _names(
        "DOWNSTREAM_DIRECT_LOCAL_ADDRESS_WITHOUT_PORT DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT "
        "EMIT_TIME EMIT_TIME_LOCAL RESPONSE_CODE_DETAILS START_TIME START_TIME_LOCAL"
    )
)
_PARAMS = frozenset(("CLUSTER_METADATA", "UPSTREAM_METADATA"))
_PARAMS_MAYBE_LENGTH = frozenset(
    _names(
        "DYNAMIC_METADATA ENVIRONMENT FILTER_STATE QUERY_PARAM REQ RESP TRAILER "
        "UPSTREAM_FILTER_STATE REQ_WITHOUT_QUERY"  # the last: a formatter extension
    )
)
_BARE_MAYBE_LENGTH = frozenset(("PATH",))
OPERATORS = _BARE | _BARE_OR_PARAMS | _PARAMS | _PARAMS_MAYBE_LENGTH | _BARE_MAYBE_LENGTH
_OPERATOR = re.compile(r"%([A-Z0-9_]+)(\([^)]+\))?(:[0-9]+)?%")


def _form_error(name: str, params: bool, length: bool) -> str | None:
    if name not in OPERATORS:
        return f"{name} is not an Envoy access log command operator"
    if params and name not in _BARE_OR_PARAMS | _PARAMS | _PARAMS_MAYBE_LENGTH:
        return f"%{name}% takes no (parameters)"
    if not params and name in _PARAMS | _PARAMS_MAYBE_LENGTH:
        return f"%{name}(...)% needs (parameters)"
    if length and name not in _PARAMS_MAYBE_LENGTH | _BARE_MAYBE_LENGTH:
        return f"%{name}% takes no :length"
    return None


def check_format(text: str) -> str:
    """`text` if Envoy can parse it as an access log format, else ValueError saying where."""
    index = 0
    while (index := text.find("%", index)) != -1:
        if text.startswith("%%", index):
            index += 2  # an escaped, literal '%'
            continue
        match = _OPERATOR.match(text, index)
        if match is None:
            raise ValueError(
                f"'%' at position {index} starts no command operator (write %% for a literal '%')"
            )
        problem = _form_error(
            match.group(1), match.group(2) is not None, match.group(3) is not None
        )
        if problem is not None:
            raise ValueError(problem)
        index = match.end()
    return text


class JsonFormatRef(ApiModel):
    key: str = Field(min_length=1, max_length=100)
    value: str = Field(min_length=1, max_length=100)

    @field_validator("value")
    @classmethod
    def _value_parses(cls, value: str) -> str:
        return check_format(value)


class LoggingFormat(ApiModel):
    """A union in the API: exactly one of json (key/value list) or text."""

    # `json_`: BaseModel has a `json` method; the wire name stays `json`.
    json_: tuple[JsonFormatRef, ...] | None = Field(default=None, alias="json")
    text: str | None = Field(default=None, min_length=1, max_length=1000)

    @field_validator("text")
    @classmethod
    def _text_parses(cls, value: str | None) -> str | None:
        return value if value is None else check_format(value)

    @model_validator(mode="after")
    def _one(self) -> LoggingFormat:
        if (self.json_ is None) == (self.text is None):
            raise ValueError("give exactly one of ['json', 'text'] in format")
        return self


class FileAccessLog(ApiModel):
    path: str = Field(min_length=1, max_length=255)
    format: LoggingFormat | None = None


class AccessLog(ApiModel):
    file: FileAccessLog  # the union's only member


class Logging(ApiModel):
    access_log: AccessLog | None = None
