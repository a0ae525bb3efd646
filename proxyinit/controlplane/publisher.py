"""Meshes -> one Snapshot per virtual node -> the cache, in two steps a writer can tell apart.

`prepare` translates and freezes (every snapshot consistency-checked) without touching the cache:
a mesh that cannot be served raises ConfigError naming the node, and nothing changes. `publish`
swaps prepared snapshots in; it cannot fail. The store calls them around its commit (validate ->
prepare -> commit -> publish), so each write is translated exactly once; the mesh file mode calls
both for each valid edit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from proxyinit.contract import NodeId
from proxyinit.controlplane.certs import CertificateDirectory
from proxyinit.controlplane.gc_pause import gc_paused
from proxyinit.controlplane.incremental import (
    Entry,
    MeshMemo,
    Recorder,
    affected,
)
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds.cache import SnapshotCache
from proxyinit.xds.snapshot import Snapshot

log = logging.getLogger(__name__)

Translator = Callable[[MeshModel, NodeId], Mapping[str, list[Any]]]
# mesh name -> {node id: snapshot}, or None when the mesh is gone
Prepared = dict[str, dict[str, Snapshot] | None]


class SnapshotPublisher:
    """The only writer of the cache."""

    # Called after each publish (the control plane keeps the GC's pauses short: heap.py).
    on_published: Callable[[], None] | None = None

    def __init__(
        self,
        cache: SnapshotCache,
        translate: Translator = translate_node,
        certificates: CertificateDirectory | None = None,
    ):
        self.cache = cache
        self.translate = translate
        self.certificates = certificates  # `--certs DIR`: PEMs served over SDS (certs.py)
        # mesh -> {node id: [why part of it fails closed]}: prepared, then served with publish.
        self._pending: dict[str, dict[str, list[str]]] = {}
        self._problems: dict[str, dict[str, list[str]]] = {}
        self._models: dict[str, MeshModel] = {}  # what is served, to translate again (certs)
        self._prepared_models: dict[str, MeshModel] = {}
        self._nodes: dict[str, set[str]] = {}  # mesh -> node ids published for it
        # What each served mesh was translated from, per node (incremental.py): a write
        # translates only the nodes that read what it changed.
        self._memos: dict[str, MeshMemo] = {}
        self._prepared_memos: dict[str, tuple[MeshMemo, set[str]]] = {}  # memo, nodes redone

    def prepare(self, meshes: Mapping[str, MeshModel | None]) -> Prepared:
        """Snapshots for every virtual node and gateway of the given meshes; ConfigError naming it."""
        with gc_paused():  # gc_pause.py: collections during translation cost ~20% of it
            return {
                name: None if model is None else self._translate_mesh(model)
                for name, model in meshes.items()
            }

    def prepare_all(self, meshes: Mapping[str, MeshModel | None]) -> Prepared:
        """`prepare`, every node translated again (an input outside the models changed)."""
        for name in meshes:
            self._memos.pop(name, None)
        return self.prepare(meshes)

    def _translate_mesh(self, model: MeshModel) -> dict[str, Snapshot]:
        self._prepared_models[model.name] = model
        ids = [NodeId(model.name, name) for name in model.nodes] + [
            NodeId(model.name, name, "virtualGateway") for name in model.gateways
        ]
        keys = [str(node_id) for node_id in ids]
        extra = {}
        if self.certificates is not None:
            available = self.certificates.load()
            self._pending[model.name] = self.certificates.report_missing(model, available)
            extra = {"certificates": available}
        # Data from outside the mesh (Cloud Map's answers) joins the model before it is compared.
        enrich = getattr(self.translate, "enrich", None)
        translate = self.translate.translate if enrich is not None else self.translate
        full = enrich(model) if enrich is not None else model
        memo = self._memos.get(model.name)
        if memo is not None and memo.translator is not self.translate:
            memo = None  # the translator was replaced (tests do): its memo says nothing
        redo = affected(memo, full, extra, keys)
        recorder = Recorder(full)
        entries: dict[str, Entry] = {}
        for key, node_id in zip(keys, ids, strict=True):
            if key not in redo:
                entries[key] = memo.entries[key]
                continue
            log = recorder.start()
            try:
                snapshot = Snapshot(translate(recorder.model, node_id, **extra))
            except ConfigError as err:
                what = "virtual gateway" if node_id.is_gateway else "virtual node"
                raise ConfigError(f"{what} {node_id}: {err}") from None
            entries[key] = Entry(snapshot, frozenset(log.keys), frozenset(log.tables))
        memo = MeshMemo(full, extra, entries, self.translate)
        self._prepared_memos[model.name] = (memo, redo)
        return {key: entry.snapshot for key, entry in entries.items()}

    def publish(self, prepared: Prepared) -> list[str]:
        """Serve what `prepare` made; return the node ids whose config changed."""
        changed: list[str] = []
        for mesh, snapshots in prepared.items():
            before = self._nodes.pop(mesh, set())
            now = snapshots or {}
            changed += [node for node, snap in now.items() if self.cache.set_snapshot(node, snap)]
            changed += [node for node in before - now.keys() if self.cache.clear_snapshot(node)]
            if snapshots is not None:
                self._nodes[mesh] = set(now)
            self._problems[mesh] = self._pending.pop(mesh, {})
            model = self._prepared_models.pop(mesh, None)
            pending = self._prepared_memos.pop(mesh, None)
            if snapshots is None:
                self._models.pop(mesh, None)
                self._memos.pop(mesh, None)
            elif model is not None:
                self._models[mesh] = model
                if pending is not None:
                    memo, redone = pending
                    self._memos[mesh] = memo.follow(self._memos.get(mesh), redone)
        log.info(
            "mesh published: %d virtual node(s), %d changed",
            len(self.cache.node_ids()),
            len(changed),
        )
        if self.on_published is not None:
            self.on_published()
        return changed

    def retranslate(self) -> list[str]:
        """Translate and serve the served meshes again (their certificates changed)."""
        return self.publish(self.prepare_all(self.served()))

    def served(self) -> dict[str, MeshModel]:
        """The meshes served now, by name, as they were published."""
        return dict(self._models)

    def problems(self) -> dict[str, list[str]]:
        """{node id: [why]} for the nodes served now (the debug endpoint shows them)."""
        return {node: why for mesh in self._problems.values() for node, why in mesh.items()}

    def replace(self, meshes: Mapping[str, MeshModel]) -> list[str]:
        """Serve exactly `meshes` (the whole mesh file): meshes not given are removed."""
        gone: Mapping[str, MeshModel | None] = {m: None for m in self._nodes if m not in meshes}
        return self.publish(self.prepare({**gone, **meshes}))
