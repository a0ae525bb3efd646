"""The Envoy side of xDS authentication (issue 11, part 2): TLS to the control plane and a token.

Variables (all optional; none set: plaintext, no token, as before):
  APPMESH_XDS_TLS_CA           the CA that signed the control plane's certificate: TLS, server
                               verified (alone: server authentication only)
  APPMESH_XDS_TLS_CERT         this Envoy's client certificate chain (with _KEY and _CA): mutual
  APPMESH_XDS_TLS_KEY          TLS; its SPIFFE id names the node (`xds serve --xds-client-ca`)
  APPMESH_XDS_TLS_SERVER_NAME  SNI, and the DNS SAN the control plane's certificate must carry
                               (default: the APPMESH_XDS_ENDPOINT host, as a DNS or IP SAN)
  APPMESH_XDS_TOKEN_FILE       a file holding this node's token (`xds serve --xds-tokens`);
                               sent as `authorization: Bearer <token>` on the ADS stream
Envoy's `initial_metadata` is static, so the token is written into the bootstrap: a bootstrap
carrying one is written mode 0600 (owned by Envoy's uid when written as root).
Paths are read by Envoy itself, at start: they must be absolute and exist now.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from proxyinit.contract import echo
from proxyinit.errors import ConfigError
from proxyinit.xds.endpoint import Endpoint

_UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}$")  # one visible-ASCII word: a valid header value


@dataclass(frozen=True)
class XdsClientAuth:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None
    token: str | None = None

    @property
    def tls(self) -> bool:
        return self.ca is not None


def xds_auth_from_env(env: Mapping[str, str]) -> XdsClientAuth:
    """ConfigError naming the variable and its value for a missing file or a half-given pair."""
    ca, cert, key = (_file(env, f"APPMESH_XDS_TLS_{name}") for name in ("CA", "CERT", "KEY"))
    if (cert is None) != (key is None):
        given, missing = ("CERT", "KEY") if cert else ("KEY", "CERT")
        raise ConfigError(
            f"APPMESH_XDS_TLS_{given}={echo(cert or key)} without APPMESH_XDS_TLS_{missing}: "
            "give the client certificate and its key together"
        )
    if cert is not None and ca is None:
        raise ConfigError(
            f"APPMESH_XDS_TLS_CERT={echo(cert)} without APPMESH_XDS_TLS_CA: Envoy would send "
            "its certificate to a control plane it cannot verify"
        )
    server_name = env.get("APPMESH_XDS_TLS_SERVER_NAME", "").strip() or None
    if server_name is not None:
        if ca is None:
            raise ConfigError(
                f"APPMESH_XDS_TLS_SERVER_NAME={echo(server_name)} without APPMESH_XDS_TLS_CA: "
                "the name is checked in the control plane's certificate, over TLS"
            )
        if not _HOSTNAME.match(server_name):
            raise ConfigError(
                f"APPMESH_XDS_TLS_SERVER_NAME={echo(server_name)}: expected a DNS name"
            )
    return XdsClientAuth(ca, cert, key, server_name, _token(env))


def _file(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.startswith("/"):
        raise ConfigError(f"{name}={echo(raw)}: expected an absolute path")
    if not os.path.isfile(raw):
        raise ConfigError(f"{name}={echo(raw)}: no such file")
    return raw


def _token(env: Mapping[str, str]) -> str | None:
    path = _file(env, "APPMESH_XDS_TOKEN_FILE")
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            token = handle.read(4097).decode("ascii").strip()
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) else "not ASCII"
        raise ConfigError(f"APPMESH_XDS_TOKEN_FILE={echo(path)}: cannot read it ({why})") from None
    if not _TOKEN.match(token):
        raise ConfigError(
            f"APPMESH_XDS_TOKEN_FILE={echo(path)}: expected one token (visible ASCII, no spaces)"
        )
    return token


def initial_metadata(auth: XdsClientAuth) -> list[dict]:
    """`GrpcService.initial_metadata` of the ADS stream."""
    return [] if auth.token is None else [{"key": "authorization", "value": f"Bearer {auth.token}"}]


def transport_socket(auth: XdsClientAuth, xds: tuple[Endpoint, ...]) -> dict | None:
    """The xds_cluster's UpstreamTlsContext (HTTP/2 by ALPN), or None for plaintext. With several
    control-plane replicas the server may present any of their names; SNI is one per cluster, so
    it is sent only when there is one name to send (APPMESH_XDS_TLS_SERVER_NAME, or a single
    host name among the endpoints)."""
    if not auth.tls:
        return None
    common: dict = {"alpn_protocols": ["h2"], "validation_context": _validation(auth, xds)}
    if auth.cert is not None:
        common["tls_certificates"] = [
            {"certificate_chain": {"filename": auth.cert}, "private_key": {"filename": auth.key}}
        ]
    context: dict = {"@type": _UPSTREAM_TLS, "common_tls_context": common}
    hosts = {x.host for x in xds if not (x.is_unix or x.is_ip_literal)}
    sni = auth.server_name or (hosts.pop() if len(hosts) == 1 else None)
    if sni is not None:
        context["sni"] = sni
    return {"name": "envoy.transport_sockets.tls", "typed_config": context}


def _validation(auth: XdsClientAuth, xds: tuple[Endpoint, ...]) -> dict:
    validation: dict = {"trusted_ca": {"filename": auth.ca}}
    sans = [("DNS", auth.server_name)] if auth.server_name is not None else _endpoint_sans(xds)
    if sans:  # a socket path has no name to check: the CA alone
        validation["match_typed_subject_alt_names"] = [
            {"san_type": kind, "matcher": {"exact": name}} for kind, name in sans
        ]
    return validation


def _endpoint_sans(xds: tuple[Endpoint, ...]) -> list[tuple[str, str]]:
    sans: list[tuple[str, str]] = []
    for x in xds:
        if x.is_unix:
            continue
        san = (
            ("IP_ADDRESS", str(ipaddress.ip_address(x.host)))
            if x.is_ip_literal
            else ("DNS", x.host)
        )
        if san not in sans:
            sans.append(san)
    return sans
