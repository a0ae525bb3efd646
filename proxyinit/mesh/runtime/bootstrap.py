"""Envoy bootstrap from the aws-appmesh-envoy image's environment contract.

Variables (names and defaults as the App Mesh Envoy image documents them):
  APPMESH_RESOURCE_ARN        arn:aws:appmesh:<region>:<account>:mesh/M/virtualNode/V   (preferred)
                              or ...:mesh/M/virtualGateway/G (a virtual gateway's Envoy)
  APPMESH_VIRTUAL_NODE_NAME   mesh/M/virtualNode/V          (older form; must agree if both set;
                              or mesh/M/virtualGateway/G, as the App Mesh controller's webhook
                              set it on a gateway pod's Envoy)
  APPMESH_XDS_ENDPOINT        host:port | [v6]:port | unix:///path    default 127.0.0.1:15010
                              or a comma list of host:port (replicas of the control plane:
                              Envoy reconnects to another when one goes away)
  ENVOY_ADMIN_ACCESS_PORT     default 9901 (0: Envoy picks one; see --admin-address-path)
  ENVOY_ADMIN_ACCESS_ADDRESS  default 127.0.0.1 (proxyinit's own addition, see below)
  ENVOY_ADMIN_ACCESS_LOG_FILE default /tmp/envoy_admin_access.log
  ENVOY_LOG_LEVEL             default info    (a command-line flag: see `envoy_flags`)
  ENVOY_CONCURRENCY           default unset   (a command-line flag: see `envoy_flags`)
  APPMESH_XDS_TLS_CA, _CERT, _KEY, _SERVER_NAME, APPMESH_XDS_TOKEN_FILE: authenticating to the
                              control plane (see xds_auth.py)

Admin binds 127.0.0.1, not App Mesh's 0.0.0.0: the admin API can drain listeners and quit the
server and has no authentication, so it must not be reachable from the network by default. Set
ENVOY_ADMIN_ACCESS_ADDRESS=0.0.0.0 to get App Mesh's behaviour back.

The ADS connection uses `envoy_grpc` to a static `xds_cluster` (HTTP/2) instead of App Mesh's
`google_grpc` + AWS IAM credentials: plaintext on loopback, or TLS (mutual with a client
certificate) and/or a token when the control plane authenticates Envoys (xds_auth.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from proxyinit.contract import DEFAULT_XDS_ADDRESS, ENVOY_ADMIN_PORT, NodeId, echo, parse_int
from proxyinit.errors import ConfigError
from proxyinit.mesh.runtime.xds_auth import (
    XdsClientAuth,
    initial_metadata,
    transport_socket,
    xds_auth_from_env,
)
from proxyinit.xds.endpoint import Endpoint, parse_endpoint

LOG_LEVELS = ("trace", "debug", "info", "warning", "warn", "error", "critical", "off")
_ARN = re.compile(r"^arn:aws[a-z-]*:appmesh:[a-z0-9-]+:[0-9]{12}:(?P<resource>.+)$")
_FILE_ACCESS_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
_HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


@dataclass(frozen=True)
class BootstrapSettings:
    node_id: NodeId
    xds: tuple[Endpoint, ...]
    admin_address: str = "127.0.0.1"
    admin_port: int = ENVOY_ADMIN_PORT
    admin_access_log: str = "/tmp/envoy_admin_access.log"
    log_level: str = "info"
    concurrency: int | None = None
    xds_auth: XdsClientAuth = field(default_factory=XdsClientAuth)

    @property
    def file_mode(self) -> int:
        """A bootstrap carrying a token is readable by its owner only."""
        return 0o600 if self.xds_auth.token is not None else 0o644


def settings_from_env(env: Mapping[str, str]) -> BootstrapSettings:
    """Validate the environment; a bad or missing variable -> ConfigError naming it and its value."""
    return BootstrapSettings(
        node_id=_node_id_from_env(env),
        xds=_xds_from_env(env),
        admin_address=_ip_from_env(env, "ENVOY_ADMIN_ACCESS_ADDRESS", "127.0.0.1"),
        admin_port=_int_from_env(env, "ENVOY_ADMIN_ACCESS_PORT", ENVOY_ADMIN_PORT, 0, 65535),
        admin_access_log=_path_from_env(
            env, "ENVOY_ADMIN_ACCESS_LOG_FILE", "/tmp/envoy_admin_access.log"
        ),
        log_level=_log_level_from_env(env),
        concurrency=_int_from_env(env, "ENVOY_CONCURRENCY", None, 1, 1024),
        xds_auth=xds_auth_from_env(env),
    )


def _xds_from_env(env: Mapping[str, str]) -> tuple[Endpoint, ...]:
    """One address, or a comma list of them, each validated as one (a unix socket only alone)."""
    name = "APPMESH_XDS_ENDPOINT"
    raw = env.get(name, "").strip() or DEFAULT_XDS_ADDRESS
    if "," not in raw:
        return (parse_endpoint(raw, name),)
    endpoints: list[Endpoint] = []
    for number, element in enumerate(raw.split(","), 1):
        if not element.strip():
            raise ConfigError(f"{name}={echo(raw)}: element {number} is empty")
        try:
            endpoint = parse_endpoint(element, name)
        except ConfigError as err:
            raise ConfigError(f"{err} (element {number} of {name}={echo(raw)})") from None
        if endpoint.is_unix:
            raise ConfigError(
                f"{name}={echo(raw)}: a unix socket cannot be listed with other addresses"
            )
        if endpoint in endpoints:
            raise ConfigError(f"{name}={echo(raw)}: {echo(element.strip())} is listed twice")
        endpoints.append(endpoint)
    return tuple(endpoints)


def _node_id_from_env(env: Mapping[str, str]) -> NodeId:
    arn = env.get("APPMESH_RESOURCE_ARN", "").strip()
    name = env.get("APPMESH_VIRTUAL_NODE_NAME", "").strip()
    from_arn = _node_id_from_arn(arn) if arn else None
    from_name = _parse_node(name, "APPMESH_VIRTUAL_NODE_NAME") if name else None
    if from_arn and from_name and from_arn != from_name:
        raise ConfigError(
            f"APPMESH_RESOURCE_ARN={arn!r} and APPMESH_VIRTUAL_NODE_NAME={name!r} name different virtual nodes"
        )
    node = from_arn or from_name
    if node is None:
        raise ConfigError(
            "APPMESH_RESOURCE_ARN (or APPMESH_VIRTUAL_NODE_NAME) is not set: which virtual node is this?"
        )
    return node


def _node_id_from_arn(arn: str) -> NodeId:
    match = _ARN.match(arn)
    if not match:
        raise ConfigError(
            f"APPMESH_RESOURCE_ARN={arn!r}: expected arn:aws:appmesh:<region>:<account>:"
            "mesh/<mesh>/virtualNode/<node> or .../virtualGateway/<gateway>"
        )
    return _parse_node(match["resource"], "APPMESH_RESOURCE_ARN", arn)


def _parse_node(resource: str, variable: str, raw: str | None = None) -> NodeId:
    try:
        return NodeId.parse(resource)
    except ConfigError:
        raise ConfigError(
            f"{variable}={raw or resource!r}: expected mesh/<mesh>/virtualNode/<node> "
            "or mesh/<mesh>/virtualGateway/<gateway>"
        ) from None


def _int_from_env(
    env: Mapping[str, str], name: str, default: int | None, low: int, high: int
) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse_int(raw, "value", low, high)
    except ValueError as err:
        raise ConfigError(
            f"{name}={echo(raw)}: expected a whole number from {low} to {high} ({err})"
        ) from None


def _ip_from_env(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip() or default
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r}: expected an IP address such as 127.0.0.1 or 0.0.0.0"
        ) from None


def _path_from_env(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip() or default
    if not raw.startswith("/"):
        raise ConfigError(f"{name}={raw!r}: expected an absolute path")
    return raw


def _log_level_from_env(env: Mapping[str, str]) -> str:
    raw = env.get("ENVOY_LOG_LEVEL", "").strip() or "info"
    if raw.lower() not in LOG_LEVELS:
        raise ConfigError(f"ENVOY_LOG_LEVEL={raw!r}: expected one of {', '.join(LOG_LEVELS)}")
    return raw.lower()


# --- rendering --------------------------------------------------------------------------------


def build_bootstrap(settings: BootstrapSettings) -> dict:
    """The bootstrap as a plain dict (Envoy's v3 JSON/YAML shape)."""
    node = str(settings.node_id)
    return {
        "node": {"id": node, "cluster": node},
        "admin": {
            "access_log": [
                {
                    "name": "envoy.access_loggers.file",
                    "typed_config": {"@type": _FILE_ACCESS_LOG, "path": settings.admin_access_log},
                }
            ],
            "address": {
                "socket_address": {
                    "address": settings.admin_address,
                    "port_value": settings.admin_port,
                }
            },
        },
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                # The server binds the stream to the node of the first request only.
                "set_node_on_first_message_only": True,
                "grpc_services": [_ads_grpc_service(settings)],
            },
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "static_resources": {"clusters": [_xds_cluster(settings.xds, settings.xds_auth)]},
    }


def _ads_grpc_service(settings: BootstrapSettings) -> dict:
    service: dict = {"envoy_grpc": _envoy_grpc(settings.xds)}
    metadata = initial_metadata(settings.xds_auth)
    if metadata:
        service["initial_metadata"] = metadata
    return service


def _envoy_grpc(xds: tuple[Endpoint, ...]) -> dict:
    grpc: dict = {"cluster_name": "xds_cluster"}
    if len(xds) > 1:
        # Replicas: when the stream's replica dies, retry soon (the next attempt goes to another
        # endpoint, round robin) instead of Envoy's default back-off of up to 30 s.
        grpc["retry_policy"] = {"retry_back_off": {"base_interval": "0.1s", "max_interval": "1s"}}
    return grpc


def _address(xds: Endpoint) -> dict:
    if xds.is_unix:
        return {"pipe": {"path": xds.unix_path}}
    return {"socket_address": {"address": xds.host, "port_value": xds.port}}


def _xds_cluster(xds: tuple[Endpoint, ...], auth: XdsClientAuth) -> dict:
    cluster = {
        "name": "xds_cluster",
        # A hostname needs DNS; an IP literal or a socket path does not.
        "type": "STATIC" if all(x.is_unix or x.is_ip_literal for x in xds) else "STRICT_DNS",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _HTTP_OPTIONS,
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": "xds_cluster",
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(x)}} for x in xds]}],
        },
    }
    tls = transport_socket(auth, xds)
    if tls is not None:
        cluster["transport_socket"] = tls
    return cluster


def envoy_flags(settings: BootstrapSettings) -> list[str]:
    """Command-line flags the env asks for (log level and concurrency are not bootstrap fields)."""
    flags = ["--log-level", settings.log_level]
    if settings.concurrency is not None:
        flags += ["--concurrency", str(settings.concurrency)]
    return flags


def render_bootstrap(settings: BootstrapSettings) -> str:
    import yaml

    header = (
        f"# Envoy bootstrap for {settings.node_id}, generated by `proxyinit envoy-bootstrap`.\n"
        f"# Run: envoy -c <this file> {' '.join(envoy_flags(settings))} --disable-hot-restart\n"
    )
    return header + yaml.safe_dump(build_bootstrap(settings), sort_keys=False)
