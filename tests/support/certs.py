"""Test certificates, generated per test with `cryptography`: one CA, leaf certificates with the
SANs a test asks for, written as PEM files (readable by Envoy's uid, which reads them itself)."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Leaf:
    chain: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class TestCa:
    """A CA in `directory`: `ca.pem`; `leaf(name, san)` issues `<name>.pem` + `<name>.key`."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, common_name: str = "proxyinit test CA"):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.path = directory / f"{common_name.replace(' ', '-')}.pem"
        self._write(self.path, self.cert.public_bytes(serialization.Encoding.PEM))

    def _write(self, path: Path, data: bytes) -> None:
        path.write_bytes(data)
        path.chmod(0o644)  # Envoy runs as uid 1337 and reads the files itself

    def leaf(
        self,
        name: str,
        san: str,
        *,
        uris: Sequence[str] = (),
        ips: Sequence[str] = (),
        common_name: str | None = None,
    ) -> Leaf:
        """`san` is the DNS SAN (and the CN unless `common_name`); `uris` and `ips` more SANs
        (SPIFFE ids, the xDS server's address)."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName(san), *map(x509.UniformResourceIdentifier, uris)]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name or san))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        leaf = Leaf(self.directory / f"{name}.pem", self.directory / f"{name}.key")
        self._write(leaf.chain, cert.public_bytes(serialization.Encoding.PEM))
        self._write(leaf.key, _pem_key(key))
        return leaf
