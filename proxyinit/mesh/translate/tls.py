"""TLS and mutual TLS (issue 9): listener `tls` -> DownstreamTlsContext, client policy `tls` ->
UpstreamTlsContext (pure).

As the App Mesh user guide describes the modes: STRICT takes TLS only on the listener's port;
PERMISSIVE takes TLS and plaintext on the same port (the tls_inspector listener filter picks the
chain by `transport_protocol`); DISABLED is plaintext. `validation` on a listener asks the client
for a certificate signed by the trusted chain (mutual TLS), whose SAN must be one of
`subjectAlternativeNames.match.exact` when given.

Certificates and trust given as `file` are paths on the Envoy's own file system; `sds` and `acm`
are served by the control plane over ADS from its certificates directory (sds.py). One that is
not there fails closed: a refusing chain, a cluster with no endpoints, never plaintext.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2

from proxyinit.mesh.model.tls import (
    ClientPolicyTls,
    FileCertificate,
    ListenerTls,
    SubjectAlternativeNames,
)
from proxyinit.mesh.translate import sds
from proxyinit.mesh.translate.parts import Parts
from proxyinit.mesh.translate.protos import pack
from proxyinit.mesh.translate.sds import arn_id

_TLS_SOCKET = "envoy.transport_sockets.tls"
# App Mesh names SANs as DNS names or SPIFFE URIs: an exact name matches either kind.
_SAN_TYPES = (common_pb2.SubjectAltNameMatcher.DNS, common_pb2.SubjectAltNameMatcher.URI)


def tls_inspector() -> listener_components_pb2.ListenerFilter:
    return listener_components_pb2.ListenerFilter(
        name="envoy.filters.listener.tls_inspector",
        typed_config=pack(tls_inspector_pb2.TlsInspector()),
    )


def _certificate(file: FileCertificate) -> common_pb2.TlsCertificate:
    return common_pb2.TlsCertificate(
        certificate_chain=base_pb2.DataSource(filename=file.certificate_chain),
        private_key=base_pb2.DataSource(filename=file.private_key),
    )


def _sans(sans: SubjectAlternativeNames | None) -> list[common_pb2.SubjectAltNameMatcher]:
    return [
        common_pb2.SubjectAltNameMatcher(
            san_type=san_type, matcher=string_pb2.StringMatcher(exact=name)
        )
        for name in (() if sans is None else sans.match.exact)
        for san_type in _SAN_TYPES
    ]


def _add_certificate(common, certificate, parts: Parts) -> bool:
    """`certificate` (file, sds or acm) into `common`; False if it cannot be served."""
    if certificate.file is not None:
        common.tls_certificates.append(_certificate(certificate.file))
        return True
    acm = getattr(certificate, "acm", None)
    name = certificate.sds.secret_name if acm is None else arn_id(acm.certificate_arn)
    config = sds.certificate(parts, name)
    if config is not None:
        common.tls_certificate_sds_secret_configs.append(config)
    return config is not None


def _add_validation(common, validation, parts: Parts) -> bool:
    """`validation` (trust file, sds or acm, and SANs) into `common`; False if unserved."""
    trust, sans = validation.trust, _sans(validation.subject_alternative_names)
    if trust.file is not None:
        context = common_pb2.CertificateValidationContext(
            trusted_ca=base_pb2.DataSource(filename=trust.file.certificate_chain),
            match_typed_subject_alt_names=sans,
        )
        common.validation_context.CopyFrom(context)
        return True
    acm = getattr(trust, "acm", None)
    names = (
        (trust.sds.secret_name,)
        if acm is None
        else tuple(arn_id(arn) for arn in acm.certificate_authority_arns)
    )
    config = sds.trust(parts, names)
    if config is None:
        return False
    # The SANs stay with the node's config; the trusted chain comes by SDS.
    combined = common.combined_validation_context
    combined.default_validation_context.match_typed_subject_alt_names.extend(sans)
    combined.validation_context_sds_secret_config.CopyFrom(config)
    return True


def downstream_socket(tls: ListenerTls, parts: Parts) -> base_pb2.TransportSocket | None:
    """The listener's certificate, and with `validation` a required, verified client certificate;
    None if a certificate or trust cannot be served."""
    common = tls_pb2.CommonTlsContext()
    validation = tls.validation
    if not _add_certificate(common, tls.certificate, parts):
        return None
    if validation is not None and not _add_validation(common, validation, parts):
        return None
    context = tls_pb2.DownstreamTlsContext(common_tls_context=common)
    if validation is not None:
        context.require_client_certificate.value = True
    return base_pb2.TransportSocket(name=_TLS_SOCKET, typed_config=pack(context))


def upstream_socket(
    policy: ClientPolicyTls, sni: str, parts: Parts
) -> base_pb2.TransportSocket | None:
    """Originate TLS to a backend: verify its chain (and SAN), present `certificate` if given;
    None if a certificate or trust cannot be served."""
    common = tls_pb2.CommonTlsContext()
    if not _add_validation(common, policy.validation, parts):
        return None
    if policy.certificate is not None and not _add_certificate(common, policy.certificate, parts):
        return None
    context = tls_pb2.UpstreamTlsContext(common_tls_context=common, sni=sni)
    return base_pb2.TransportSocket(name=_TLS_SOCKET, typed_config=pack(context))


def tls_chains(
    chain: listener_components_pb2.FilterChain, tls: ListenerTls | None, refuse, parts: Parts
) -> list[listener_components_pb2.FilterChain]:
    """`chain` (plaintext) as the listener's tls mode wants it; `refuse()` builds the chain that
    closes every connection, for a certificate that cannot be served (fail closed)."""
    if tls is None or tls.mode == "DISABLED":
        return [chain]
    socket = downstream_socket(tls, parts)
    if socket is None:
        return [refuse()]
    secure = listener_components_pb2.FilterChain()
    secure.CopyFrom(chain)
    secure.transport_socket.CopyFrom(socket)
    if tls.mode == "STRICT":
        return [secure]
    # PERMISSIVE: the tls_inspector tells TLS from plaintext; each gets its own chain.
    secure.name = f"{chain.name}_tls"
    secure.filter_chain_match.transport_protocol = "tls"
    plain = listener_components_pb2.FilterChain()
    plain.CopyFrom(chain)
    plain.filter_chain_match.transport_protocol = "raw_buffer"
    return [secure, plain]
