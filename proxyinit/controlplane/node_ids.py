"""Each served node's id (NodeId) and cache key, made once per node and kept with the node.

A prepare looks at every node of the mesh to choose which to translate; making their ids again
(a NodeId and its string each) cost a write ~1 ms at a thousand nodes. A write that keeps the
set of nodes (an update, a service or route write) reuses the last mapping whole; one that adds
or removes nodes makes ids for the new ones only.
"""

from __future__ import annotations

from collections.abc import Mapping

from proxyinit.contract import NodeId
from proxyinit.mesh.model.mesh import MeshModel

_KINDS = ("virtualNode", "virtualGateway")


class NodeIds:
    def __init__(self) -> None:
        # mesh -> (node names, gateway names, {key: NodeId}) of the last model asked for
        self._last: dict[str, tuple[Mapping, Mapping, dict[str, NodeId]]] = {}

    def of(self, model: MeshModel) -> dict[str, NodeId]:
        """{key: NodeId} of the model's virtual nodes then virtual gateways, in model order."""
        last = self._last.get(model.name)
        if last is not None and _same_names(last, model):
            ids = last[2]
        else:
            ids = _make(model, {} if last is None else last[2])
        self._last[model.name] = (model.nodes, model.gateways, ids)
        return ids

    def forget(self, mesh: str) -> None:
        self._last.pop(mesh, None)


def _same_names(last: tuple[Mapping, Mapping, dict], model: MeshModel) -> bool:
    # `is` first: a write that did not touch a table keeps its mapping (mesh/model/rebuild.py)
    return all(
        before is now or before.keys() == now.keys()
        for before, now in zip(last[:2], (model.nodes, model.gateways), strict=True)
    )


def _make(model: MeshModel, known: dict[str, NodeId]) -> dict[str, NodeId]:
    ids: dict[str, NodeId] = {}
    for kind, names in zip(_KINDS, (model.nodes, model.gateways), strict=True):
        prefix = f"mesh/{model.name}/{kind}/"
        for name in names:
            key = prefix + name  # str(NodeId), without making the NodeId for a known node
            ids[key] = known.get(key) or NodeId(model.name, name, kind)
    return ids


def mesh_order(key: str) -> tuple[bool, str]:
    """Sort key of node keys in a model's order (nodes, then gateways, each by name), to visit a
    few of them as a whole mesh would be."""
    return "/virtualGateway/" in key, key
