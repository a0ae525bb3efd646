"""Meshes -> one Snapshot per virtual node -> the cache, in two steps a writer can tell apart.

`prepare` translates and freezes (every snapshot consistency-checked) without touching the cache:
a mesh that cannot be served raises ConfigError naming the node, and nothing changes. `publish`
swaps prepared snapshots in; it cannot fail. The store calls them around its commit (validate ->
prepare -> commit -> publish), so each write is translated exactly once; the mesh file mode calls
both for each valid edit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from proxyinit.contract import NodeId
from proxyinit.controlplane.certs import CertificateDirectory
from proxyinit.controlplane.gc_pause import gc_paused
from proxyinit.controlplane.incremental import (
    Entry,
    MeshMemo,
    Recorder,
    affected,
    carried,
)
from proxyinit.controlplane.node_ids import NodeIds, mesh_order
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds.cache import SnapshotCache
from proxyinit.xds.snapshot import Snapshot

log = logging.getLogger(__name__)

Translator = Callable[[MeshModel, NodeId], Mapping[str, list[Any]]]
# mesh name -> {node id: snapshot}, or None when the mesh is gone
Prepared = dict[str, dict[str, Snapshot] | None]


class PreparedMemo(NamedTuple):
    """What `prepare` made of one mesh, for `publish`: the memo that follows, the nodes it
    translated again, and the snapshots that choice was made against."""

    memo: MeshMemo
    redone: set[str]
    base: dict[str, Snapshot] | None


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
        self._served: dict[str, dict[str, Snapshot]] = {}  # mesh -> {node id: snapshot} served
        self._ids = NodeIds()  # each node's id, made once (node_ids.py)
        # What each served mesh was translated from, per node (incremental.py): a write
        # translates only the nodes that read what it changed.
        self._memos: dict[str, MeshMemo] = {}
        self._prepared_memos: dict[str, PreparedMemo] = {}

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
        ids = self._ids.of(model)
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
        redo = affected(memo, full, extra, ids)
        # Only the nodes redone are visited: the others' entries and snapshots are copied whole.
        entries = carried(None if memo is None else memo.entries, ids)
        snapshots = carried(None if memo is None else memo.snapshots, ids)
        recorder = Recorder(full)
        for key in ids if len(redo) == len(ids) else sorted(redo, key=mesh_order):
            node_id = ids[key]
            log = recorder.start()
            try:
                snapshot = Snapshot(translate(recorder.model, node_id, **extra))
            except ConfigError as err:
                what = "virtual gateway" if node_id.is_gateway else "virtual node"
                raise ConfigError(f"{what} {node_id}: {err}") from None
            entries[key] = Entry(snapshot, frozenset(log.keys), frozenset(log.tables))
            snapshots[key] = snapshot
        fresh = MeshMemo(full, extra, entries, self.translate, snapshots=snapshots)
        # With the snapshots redo was computed against: publish sets only those nodes then.
        base = None if memo is None else memo.snapshots
        self._prepared_memos[model.name] = PreparedMemo(fresh, redo, base)
        return snapshots

    def publish(self, prepared: Prepared) -> list[str]:
        """Serve what `prepare` made; return the node ids whose config changed."""
        changed: list[str] = []
        for mesh, snapshots in prepared.items():
            before = self._served.pop(mesh, {})
            now = snapshots or {}
            pending = self._prepared_memos.pop(mesh, None)
            changed += self._swap(before, now, pending)
            if snapshots is not None:
                self._served[mesh] = now
            self._problems[mesh] = self._pending.pop(mesh, {})
            model = self._prepared_models.pop(mesh, None)
            if snapshots is None:
                self._models.pop(mesh, None)
                self._memos.pop(mesh, None)
                self._ids.forget(mesh)
            elif model is not None:
                self._models[mesh] = model
                if pending is not None:
                    self._memos[mesh] = pending.memo.follow(self._memos.get(mesh), pending.redone)
        if log.isEnabledFor(logging.INFO):  # counting the cache's nodes sorts them
            log.info(
                "mesh published: %d virtual node(s), %d changed",
                len(self.cache.node_ids()),
                len(changed),
            )
        if self.on_published is not None:
            self.on_published()
        return changed

    def _swap(
        self, before: dict[str, Snapshot], now: dict[str, Snapshot], pending: PreparedMemo | None
    ) -> list[str]:
        """Set the nodes whose snapshot may differ from what is served, clear the nodes gone."""
        visit: Iterable[str] = now
        if pending is not None and pending.memo.snapshots is now and pending.base is before:
            # Prepared against what is served: only the nodes translated again can differ.
            visit = sorted(pending.redone, key=mesh_order)
        cache = self.cache
        changed = [node for node in visit if cache.set_snapshot(node, now[node])]
        return changed + [node for node in before.keys() - now.keys() if cache.clear_snapshot(node)]

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
        gone: Mapping[str, MeshModel | None] = {m: None for m in self._served if m not in meshes}
        return self.publish(self.prepare({**gone, **meshes}))
