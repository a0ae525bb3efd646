"""TLS and mutual TLS (issue 9): listener `tls` -> DownstreamTlsContext, client policy `tls` ->
UpstreamTlsContext (pure).

As the App Mesh user guide describes the modes: STRICT takes TLS only on the listener's port;
PERMISSIVE takes TLS and plaintext on the same port (the tls_inspector listener filter picks the
chain by `transport_protocol`); DISABLED is plaintext. `validation` on a listener asks the client
for a certificate signed by the trusted chain (mutual TLS), whose SAN must be one of
`subjectAlternativeNames.match.exact` when given.

Certificates and trust given as `file` are paths on the Envoy's own file system. `sds` and `acm`
are not served yet (no Secret over ADS): a listener or client policy that needs one fails closed
(a refusing chain, a cluster with no endpoints), never plaintext.
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
from proxyinit.mesh.translate.protos import pack

_TLS_SOCKET = "envoy.transport_sockets.tls"
# App Mesh names SANs as DNS names or SPIFFE URIs: an exact name matches either kind.
_SAN_TYPES = (common_pb2.SubjectAltNameMatcher.DNS, common_pb2.SubjectAltNameMatcher.URI)


def served(tls: ListenerTls | ClientPolicyTls) -> bool:
    """Whether every certificate and trust of `tls` can be given to Envoy (file only for now)."""
    certificate = tls.certificate
    if certificate is not None and certificate.file is None:
        return False
    validation = tls.validation
    return validation is None or validation.trust.file is not None


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


def _validation(
    chain: str, sans: SubjectAlternativeNames | None
) -> common_pb2.CertificateValidationContext:
    context = common_pb2.CertificateValidationContext(
        trusted_ca=base_pb2.DataSource(filename=chain)
    )
    for name in () if sans is None else sans.match.exact:
        context.match_typed_subject_alt_names.extend(
            common_pb2.SubjectAltNameMatcher(
                san_type=san_type, matcher=string_pb2.StringMatcher(exact=name)
            )
            for san_type in _SAN_TYPES
        )
    return context


def downstream_socket(tls: ListenerTls) -> base_pb2.TransportSocket:
    """The listener's certificate, and with `validation` a required, verified client certificate."""
    common = tls_pb2.CommonTlsContext(tls_certificates=[_certificate(tls.certificate.file)])
    validation = tls.validation
    if validation is not None:
        common.validation_context.CopyFrom(
            _validation(
                validation.trust.file.certificate_chain, validation.subject_alternative_names
            )
        )
    context = tls_pb2.DownstreamTlsContext(common_tls_context=common)
    if validation is not None:
        context.require_client_certificate.value = True
    return base_pb2.TransportSocket(name=_TLS_SOCKET, typed_config=pack(context))


def upstream_socket(policy: ClientPolicyTls, sni: str) -> base_pb2.TransportSocket:
    """Originate TLS to a backend: verify its chain (and SAN), present `certificate` if given."""
    validation = policy.validation
    common = tls_pb2.CommonTlsContext(
        validation_context=_validation(
            validation.trust.file.certificate_chain, validation.subject_alternative_names
        )
    )
    if policy.certificate is not None:
        common.tls_certificates.append(_certificate(policy.certificate.file))
    context = tls_pb2.UpstreamTlsContext(common_tls_context=common, sni=sni)
    return base_pb2.TransportSocket(name=_TLS_SOCKET, typed_config=pack(context))


def tls_chains(
    chain: listener_components_pb2.FilterChain, tls: ListenerTls | None, refuse
) -> list[listener_components_pb2.FilterChain]:
    """`chain` (plaintext) as the listener's tls mode wants it; `refuse()` builds the chain that
    closes every connection, for a certificate that cannot be served (fail closed)."""
    if tls is None or tls.mode == "DISABLED":
        return [chain]
    if not served(tls):
        return [refuse()]
    secure = listener_components_pb2.FilterChain()
    secure.CopyFrom(chain)
    secure.transport_socket.CopyFrom(downstream_socket(tls))
    if tls.mode == "STRICT":
        return [secure]
    # PERMISSIVE: the tls_inspector tells TLS from plaintext; each gets its own chain.
    secure.name = f"{chain.name}_tls"
    secure.filter_chain_match.transport_protocol = "tls"
    plain = listener_components_pb2.FilterChain()
    plain.CopyFrom(chain)
    plain.filter_chain_match.transport_protocol = "raw_buffer"
    return [secure, plain]
