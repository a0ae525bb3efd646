"""Authenticating Envoys on the xDS port (issue 11, part 2): the App Mesh side of xds/auth.py.

Two credentials, either or both (both: each must name the node):
- a TLS client certificate (`--xds-client-ca`): its SPIFFE id URI SAN
  `spiffe://<trust domain>/mesh/M/virtualNode/V` (or `.../virtualGateway/G`) names the node; a
  certificate without such a URI SAN may name it by its common name `mesh/M/virtualNode/V`.
  `--xds-trust-domain TD` requires the SPIFFE id's trust domain to be TD (and the URI form);
- a token (`--xds-tokens FILE`: `NODE_ID TOKEN` lines), sent by Envoy as gRPC metadata
  `authorization: Bearer TOKEN` or `x-proxyinit-token: TOKEN`. The file is read again when it
  changes (a bad edit is logged and the tokens read before keep working).
A peer whose credential names another node, or has none, gets PERMISSION_DENIED.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from proxyinit.contract import NodeId, echo
from proxyinit.errors import ConfigError
from proxyinit.xds.auth import PeerCredentials, PermissionDenied

log = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 16  # a guessable token is no authentication
_MAX_FILE = 1 << 20


@dataclass(frozen=True)
class XdsAuthSettings:
    """What `xds serve`'s --xds-* authentication flags asked for (files as paths)."""

    tls_cert: str | None = None
    tls_key: str | None = None
    client_ca: str | None = None
    trust_domain: str | None = None
    tokens: str | None = None

    @property
    def authenticates(self) -> bool:
        """True when a client must prove which node it is (a client CA or tokens)."""
        return self.client_ca is not None or self.tokens is not None


def server_credentials(settings: XdsAuthSettings):
    """grpc.ssl_server_credentials for --xds-tls-cert/--xds-tls-key (and --xds-client-ca:
    client certificates required), or None for plaintext."""
    if settings.tls_cert is None and settings.tls_key is None:
        if settings.client_ca is not None:
            raise ConfigError(
                "--xds-client-ca needs --xds-tls-cert and --xds-tls-key (the server's own)"
            )
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise ConfigError("--xds-tls-cert and --xds-tls-key: give both or neither")
    import grpc

    chain = _read_pem(settings.tls_cert, "--xds-tls-cert", b"CERTIFICATE")
    key = _read_pem(settings.tls_key, "--xds-tls-key", b"PRIVATE KEY")
    ca = (
        _read_pem(settings.client_ca, "--xds-client-ca", b"CERTIFICATE")
        if settings.client_ca
        else None
    )
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=ca, require_client_auth=ca is not None
    )


def _read_pem(path: str, flag: str, marker: bytes) -> bytes:
    try:
        data = Path(path).read_bytes()[: _MAX_FILE + 1]
    except OSError as err:
        raise ConfigError(f"{flag} {echo(path)}: cannot read it ({err.strerror or err})") from None
    if len(data) > _MAX_FILE or b"-----BEGIN " not in data or marker not in data:
        raise ConfigError(f"{flag} {echo(path)}: not a PEM file with a {marker.decode()}")
    return data


class NodeAuthorizer:
    """The `Authorize` of the ADS server (xds/auth.py) for App Mesh node ids."""

    def __init__(self, settings: XdsAuthSettings):
        self.require_certificate = settings.client_ca is not None
        self.trust_domain = settings.trust_domain
        if self.trust_domain is not None:
            _check_trust_domain(self.trust_domain)
        self.tokens = TokenFile(settings.tokens) if settings.tokens else None

    def __call__(self, peer: PeerCredentials, node_key: str) -> None:
        if self.require_certificate:
            named = self.certificate_node(peer)
            if named != node_key:
                raise PermissionDenied(f"its certificate names {named or 'no node'}")
        if self.tokens is not None:
            named = self.tokens.node_of(presented_token(peer.metadata))
            if named != node_key:
                raise PermissionDenied(f"its token names {named or 'no node'}")

    def certificate_node(self, peer: PeerCredentials) -> str | None:
        """The node the certificate names: its SPIFFE id, else (no trust domain) its CN."""
        spiffe = [uri for uri in peer.uri_sans if uri.startswith("spiffe://")]
        if spiffe:
            nodes = {node for node in map(self._spiffe_node, spiffe) if node}
            return nodes.pop() if len(nodes) == 1 else None
        if self.trust_domain is None:
            return next(filter(None, map(_node_or_none, peer.common_names)), None)
        return None

    def _spiffe_node(self, uri: str) -> str | None:
        domain, _, path = uri.removeprefix("spiffe://").partition("/")
        if self.trust_domain is not None and domain != self.trust_domain:
            return None
        return _node_or_none(path)


def _node_or_none(text: str) -> str | None:
    try:
        return str(NodeId.parse(text))
    except ConfigError:
        return None


def _check_trust_domain(domain: str) -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789.-_")
    if not domain or len(domain) > 255 or not set(domain) <= allowed:
        raise ConfigError(
            f"--xds-trust-domain={echo(domain)}: expected a SPIFFE trust domain such as "
            "example.org (lower-case letters, digits, '.', '-', '_')"
        )


def presented_token(metadata: dict[str, str]) -> str | None:
    """The token of `authorization: Bearer T` or `x-proxyinit-token: T`."""
    bearer = metadata.get("authorization", "")
    scheme, _, token = bearer.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return metadata.get("x-proxyinit-token", "").strip() or None


def _digest(token: str) -> bytes:
    # Looked up by digest, so the time a lookup takes says nothing about a guess's prefix.
    return hashlib.sha256(token.encode()).digest()


class TokenFile:
    """`--xds-tokens FILE`: one `NODE_ID TOKEN` per line, `#` comments; read again on change."""

    def __init__(self, path: str):
        self.path = path
        self._signature = self._stat()
        self._nodes = load_tokens(path)

    def _stat(self) -> tuple | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def node_of(self, token: str | None) -> str | None:
        self._reload_if_changed()
        return self._nodes.get(_digest(token)) if token else None

    def _reload_if_changed(self) -> None:
        signature = self._stat()
        if signature == self._signature:
            return
        self._signature = signature
        try:
            self._nodes = load_tokens(self.path)
            log.info("--xds-tokens %s read again: %d node(s)", self.path, len(self._nodes))
        except ConfigError as err:
            log.error("--xds-tokens changed but is refused, the tokens read before stay: %s", err)


def load_tokens(path: str) -> dict[bytes, str]:
    """{sha256(token): node id}; ConfigError naming the file and the line."""
    try:
        text = Path(path).read_bytes()[: _MAX_FILE + 1].decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) else "not UTF-8"
        raise ConfigError(f"--xds-tokens {echo(path)}: cannot read it ({why or err})") from None
    nodes: dict[bytes, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"--xds-tokens {echo(path)} line {number}"
        if len(fields) != 2:
            raise ConfigError(f"{where}: expected `NODE_ID TOKEN`, got {len(fields)} field(s)")
        node = _node_or_none(fields[0])
        if node is None:
            raise ConfigError(
                f"{where}: {echo(fields[0])} is not mesh/<mesh>/virtualNode/<node> "
                "or mesh/<mesh>/virtualGateway/<gateway>"
            )
        if len(fields[1]) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"{where}: the token is shorter than {MIN_TOKEN_LENGTH} characters")
        if nodes.setdefault(_digest(fields[1]), node) != node:
            raise ConfigError(f"{where}: the same token is given to another node")
    if not nodes:
        raise ConfigError(f"--xds-tokens {echo(path)}: no tokens in it")
    return nodes


def settings_from_args(args) -> XdsAuthSettings:
    """The --xds-* flags of `xds serve`; combinations that cannot work are ConfigError."""
    settings = XdsAuthSettings(
        tls_cert=args.xds_tls_cert,
        tls_key=args.xds_tls_key,
        client_ca=args.xds_client_ca,
        trust_domain=args.xds_trust_domain,
        tokens=args.xds_tokens,
    )
    if settings.trust_domain is not None and settings.client_ca is None:
        raise ConfigError(
            f"--xds-trust-domain={echo(settings.trust_domain)} needs --xds-client-ca "
            "(the trust domain is checked in client certificates)"
        )
    return settings


def check_exposure(xds, settings: XdsAuthSettings, certs: str | None) -> None:
    """Secrets (`--certs`) are never served on a non-loopback xDS that anyone may ask."""
    if certs is not None and not xds.is_loopback and not settings.authenticates:
        raise ConfigError(
            f"--certs {echo(certs)} with --xds {xds} (not loopback) and neither --xds-client-ca "
            "nor --xds-tokens: anyone reaching the port could claim a node id and receive its "
            "private keys; authenticate Envoys or bind --xds to loopback or a unix socket"
        )
    if settings.tokens is not None and settings.tls_cert is None and not xds.is_loopback:
        log.warning(
            "--xds-tokens without --xds-tls-cert on --xds %s (not loopback): the tokens and "
            "the config cross the network in plaintext",
            xds,
        )
