"""Certificates the control plane serves over SDS (issue 9): `sds` secret names, and ACM / ACM-PCA
ARNs, which a self-hosted control plane cannot fetch from AWS (pure).

The operator puts PEM files in the directory given to `xds serve --certs DIR`: `<id>.pem` (the
chain) and, for a certificate, `<id>.key` (its private key), where `<id>` is the SDS secret name,
or the last part of the ARN (`arn:aws:acm:...:certificate/<id>`,
`arn:aws:acm-pca:...:certificate-authority/<id>`). The control plane reads them
(`controlplane/certs.py`) and hands them to translation as `Parts.available`; a node's snapshot
holds only the secrets its own spec names. A name with no PEM is not served: the caller fails
closed.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2, config_source_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

from proxyinit.mesh.translate.parts import Parts

# (chain, private key or None): one `<id>.pem` and its `<id>.key`, as read from the directory.
Pem = tuple[bytes, bytes | None]


def arn_id(arn: str) -> str:
    """The certificate (authority) id an ARN ends with: its PEM files are named after it."""
    return arn.rsplit("/", 1)[-1]


def _ads(name: str) -> secret_pb2.SdsSecretConfig:
    return secret_pb2.SdsSecretConfig(
        name=name,
        sds_config=config_source_pb2.ConfigSource(
            ads=config_source_pb2.AggregatedConfigSource(),
            resource_api_version=config_source_pb2.V3,
        ),
    )


def certificate(parts: Parts, name: str) -> secret_pb2.SdsSecretConfig | None:
    """An SDS reference to certificate `name` (added to this node's secrets), None if unserved."""
    pem = parts.available.get(name)
    if pem is None or pem[1] is None:
        return None
    secret = f"certificate/{name}"
    parts.add_secret(
        secret_pb2.Secret(
            name=secret,
            tls_certificate=common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(inline_bytes=pem[0]),
                private_key=base_pb2.DataSource(inline_bytes=pem[1]),
            ),
        )
    )
    return _ads(secret)


def trust(parts: Parts, names: tuple[str, ...]) -> secret_pb2.SdsSecretConfig | None:
    """An SDS reference to the chains of `names` as one trust bundle, None if one is unserved."""
    pems = [parts.available.get(name) for name in names]
    if any(pem is None for pem in pems):
        return None
    secret = "trust/" + "+".join(names)
    bundle = b"\n".join(pem[0].strip() for pem in pems) + b"\n"
    parts.add_secret(
        secret_pb2.Secret(
            name=secret,
            validation_context=common_pb2.CertificateValidationContext(
                trusted_ca=base_pb2.DataSource(inline_bytes=bundle)
            ),
        )
    )
    return _ads(secret)
