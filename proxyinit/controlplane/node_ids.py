"""Each served node's id (NodeId) and cache key, made once per node and kept with the node.

A prepare looks at every node of the mesh to choose which to translate; making their ids again
(a NodeId and its string each) cost a write ~1 ms at a thousand nodes. A write that keeps the
set of nodes (an update, a service or route write) reuses the last mapping whole; one that adds
or removes nodes makes ids for the new ones only.
"""

from __future__ import annotations

from collections.abc import Mapping

from proxyinit.contract import NodeId
from proxyinit.controlplane.incremental import carried
from proxyinit.mesh.model.mesh import MeshModel

_KINDS = ("virtualNode", "virtualGateway")


class NodeIds:
    def __init__(self) -> None:
        # mesh -> the node and gateway names of the last model asked for, and their ids:
        # ({key: NodeId} of the nodes, of the gateways)
        self._last: dict[str, tuple[tuple[Mapping, Mapping], tuple[dict, dict]]] = {}
        self._ids: dict[str, dict[str, NodeId]] = {}  # mesh -> both, merged

    def of(self, model: MeshModel) -> dict[str, NodeId]:
        """{key: NodeId} of the model's virtual nodes then virtual gateways, in model order."""
        names = (model.nodes, model.gateways)
        last = self._last.get(model.name)
        if last is None or not all(map(_same_names, last[0], names)):
            known = ({}, {}) if last is None else last[1]
            made = tuple(map(_make, _KINDS, names, known, (model.name,) * 2))
            self._ids[model.name] = {**made[0], **made[1]}
            last = (names, made)
        self._last[model.name] = (names, last[1])
        return self._ids[model.name]

    def forget(self, mesh: str) -> None:
        self._last.pop(mesh, None)
        self._ids.pop(mesh, None)


def _same_names(before: Mapping, now: Mapping) -> bool:
    # `is` first: a write that did not touch a table keeps its mapping (mesh/model/rebuild.py)
    return before is now or before.keys() == now.keys()


def _make(kind: str, names: Mapping, known: dict[str, NodeId], mesh: str) -> dict[str, NodeId]:
    prefix = f"mesh/{mesh}/{kind}/"
    # The known ids carried over in the model's order; a NodeId (a key is its str) is made only
    # for a node new since the last model.
    made = carried(known, dict.fromkeys(map(prefix.__add__, names)))
    for key in made.keys() - known.keys():
        made[key] = NodeId(mesh, key[len(prefix) :], kind)
    return made


def mesh_order(key: str) -> tuple[bool, str]:
    """Sort key of node keys in a model's order (nodes, then gateways, each by name), to visit a
    few of them as a whole mesh would be."""
    return "/virtualGateway/" in key, key
