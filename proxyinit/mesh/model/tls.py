"""TLS of the App Mesh 2019-01-25 model (issue 9): listener `tls` and client policies.

The virtual node and virtual gateway shapes are the same in botocore (`ListenerTls` and
`VirtualGatewayListenerTls`, `ClientPolicyTls` and `VirtualGatewayClientPolicyTls`, ...), so one
set of classes serves both. Bounds are the API model's; unions are checked as the API checked
them (exactly one member).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from proxyinit.mesh.model.base import ApiModel, Bool, Int
from proxyinit.mesh.model.route import _exactly_one

FilePath = str  # bounded where used: 1..255 characters (FilePath)
TlsMode = Literal["STRICT", "PERMISSIVE", "DISABLED"]  # ListenerTlsMode
# An ARN (Arn has no bound in the API; its last path segment names the PEM files, see secrets).
Arn = str


def _path() -> object:
    return Field(min_length=1, max_length=255)


class FileCertificate(ApiModel):
    """ListenerTlsFileCertificate: PEM files on the Envoy's own file system."""

    certificate_chain: FilePath = _path()
    private_key: FilePath = _path()


class SdsCertificate(ApiModel):
    """ListenerTlsSdsCertificate: a secret the control plane serves over ADS (SDS)."""

    secret_name: str = Field(min_length=1, max_length=255)


class AcmCertificate(ApiModel):
    certificate_arn: Arn = Field(min_length=1, max_length=2048)


class ListenerCertificate(ApiModel):
    """ListenerTlsCertificate: a union of acm, file and sds."""

    acm: AcmCertificate | None = None
    file: FileCertificate | None = None
    sds: SdsCertificate | None = None

    @model_validator(mode="after")
    def _one(self) -> ListenerCertificate:
        _exactly_one(self, ("acm", "file", "sds"), "certificate")
        return self


class ClientCertificate(ApiModel):
    """ClientTlsCertificate: a union of file and sds (no acm: App Mesh could not export a key)."""

    file: FileCertificate | None = None
    sds: SdsCertificate | None = None

    @model_validator(mode="after")
    def _one(self) -> ClientCertificate:
        _exactly_one(self, ("file", "sds"), "certificate")
        return self


class FileTrust(ApiModel):
    certificate_chain: FilePath = _path()


class SdsTrust(ApiModel):
    secret_name: str = Field(min_length=1, max_length=255)


class AcmTrust(ApiModel):
    certificate_authority_arns: tuple[Arn, ...] = Field(min_length=1, max_length=3)


class ListenerTrust(ApiModel):
    """ListenerTlsValidationContextTrust: file or sds (a listener cannot trust an ACM PCA)."""

    file: FileTrust | None = None
    sds: SdsTrust | None = None

    @model_validator(mode="after")
    def _one(self) -> ListenerTrust:
        _exactly_one(self, ("file", "sds"), "trust")
        return self


class ClientTrust(ApiModel):
    """TlsValidationContextTrust: acm, file or sds."""

    acm: AcmTrust | None = None
    file: FileTrust | None = None
    sds: SdsTrust | None = None

    @model_validator(mode="after")
    def _one(self) -> ClientTrust:
        _exactly_one(self, ("acm", "file", "sds"), "trust")
        return self


class SanMatchers(ApiModel):
    exact: tuple[str, ...] = Field()

    @model_validator(mode="after")
    def _bounded(self) -> SanMatchers:
        for name in self.exact:  # SubjectAlternativeName: 1..254 characters
            if not 1 <= len(name) <= 254:
                raise ValueError("each subjectAlternativeNames.match.exact is 1..254 characters")
        return self


class SubjectAlternativeNames(ApiModel):
    match: SanMatchers


class ListenerValidation(ApiModel):
    trust: ListenerTrust
    subject_alternative_names: SubjectAlternativeNames | None = None


class ClientValidation(ApiModel):
    trust: ClientTrust
    subject_alternative_names: SubjectAlternativeNames | None = None


class ListenerTls(ApiModel):
    """ListenerTls / VirtualGatewayListenerTls; `validation` asks clients for a certificate (mTLS)."""

    mode: TlsMode
    certificate: ListenerCertificate
    validation: ListenerValidation | None = None


class ClientPolicyTls(ApiModel):
    # ClientPolicyTls.enforce: "The default value is True, if a value isn't specified."
    enforce: Bool = True
    ports: tuple[Int, ...] | None = None
    certificate: ClientCertificate | None = None
    validation: ClientValidation

    @model_validator(mode="after")
    def _ports(self) -> ClientPolicyTls:
        for port in self.ports or ():
            if not 1 <= port <= 65535:  # PortNumber
                raise ValueError(f"clientPolicy.tls.ports: {port} is not a port (1..65535)")
        return self

    def covers(self, port: int) -> bool:
        """Whether TLS applies to a backend port: enforced, and `ports` empty or naming it."""
        return self.enforce and (not self.ports or port in self.ports)


class ClientPolicy(ApiModel):
    tls: ClientPolicyTls | None = None


class BackendDefaults(ApiModel):
    client_policy: ClientPolicy | None = None
