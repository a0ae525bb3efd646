"""The certificates directory of `xds serve --certs DIR` (issue 9): PEM files served over SDS.

ACM and ACM-PCA ARNs cannot be fetched from AWS by a self-hosted control plane, and `sds` secret
names need a source too: the operator puts `<id>.pem` (a chain) and, for a certificate,
`<id>.key` (its private key) in DIR, `<id>` being the secret name or the ARN's last part
(mesh/translate/sds.py). The directory is read each time meshes are translated; a spec naming
an id that is not there is logged (the listener or cluster fails closed, never plaintext).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from proxyinit.contract import NodeId, echo
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.mesh import MeshModel

log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$")
_MAX_PEM = 1 << 20  # a chain of a few certificates is kilobytes; refuse to read more


class CertificateDirectory:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise ConfigError(f"--certs: {echo(str(path))} is not a directory")

    def load(self) -> dict[str, tuple[bytes, bytes | None]]:
        """{id: (chain, key or None)} for each readable `<id>.pem` (and its `<id>.key`)."""
        out: dict[str, tuple[bytes, bytes | None]] = {}
        for pem in sorted(self.path.glob("*.pem")):
            if not _ID.match(pem.stem):
                continue
            chain = _read(pem)
            if chain is not None:
                out[pem.stem] = (chain, _read(pem.with_suffix(".key")))
        return out

    def signature(self) -> tuple:
        """What changes when a PEM is added, removed or rewritten (names, sizes, mtimes)."""
        try:
            entries = sorted(self.path.iterdir())
        except OSError:
            return ()
        out = []
        for entry in entries:
            if entry.suffix in (".pem", ".key"):
                with contextlib.suppress(OSError):
                    stat = entry.stat()
                    out.append((entry.name, stat.st_size, stat.st_mtime_ns))
        return tuple(out)

    async def changes(self, interval: float) -> AsyncIterator[None]:
        """Yields each time the directory's PEMs change (polled every `interval` seconds)."""
        seen = self.signature()
        while True:
            await asyncio.sleep(interval)
            now = self.signature()
            if now != seen:
                seen = now
                yield

    def report_missing(self, model: MeshModel, available: dict) -> dict[str, list[str]]:
        """{node id: [why]} for each certificate a spec names that DIR lacks; each is logged."""
        out: dict[str, list[str]] = {}
        for node_id, spec in _specs(model):
            for cert_id in sorted(set(certificate_ids(spec))):
                if cert_id in available:
                    continue
                why = (
                    f"certificate {cert_id!r} has no {cert_id}.pem in --certs {self.path}: "
                    "its listener or cluster refuses connections (fail closed)"
                )
                log.warning("%s: %s", node_id, why)
                out.setdefault(node_id, []).append(why)
        return out


def _read(path: Path) -> bytes | None:
    try:
        if path.stat().st_size > _MAX_PEM:
            log.warning("%s is larger than %d bytes: not served", path, _MAX_PEM)
            return None
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        log.warning("cannot read %s: %s", path, err)
        return None


def _specs(model: MeshModel) -> Iterable[tuple[str, dict]]:
    for name, node in model.nodes.items():
        yield str(NodeId(model.name, name)), node.spec.to_api()
    for name, gateway in model.gateways.items():
        yield str(NodeId(model.name, name, "virtualGateway")), gateway.spec.to_api()


def certificate_ids(value) -> Iterable[str]:
    """Every SDS secret name and ACM / ACM-PCA certificate id an App Mesh spec (JSON) names."""
    if isinstance(value, list):
        for item in value:
            yield from certificate_ids(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "secretName":
                yield item
            elif key == "certificateArn":
                yield item.rsplit("/", 1)[-1]
            elif key == "certificateAuthorityArns":
                yield from (arn.rsplit("/", 1)[-1] for arn in item)
            else:
                yield from certificate_ids(item)
