"""A mesh's Cloud Map queries (`MeshModel.cloud_map_queries`), kept per mesh and followed
through each write's delta (mesh/model/rebuild.py) rather than collected from every node: the
control plane asks for them on every prepare (cloudmap.py), ~1 ms a write at a thousand nodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from proxyinit.mesh.model.cloudmap import CloudMapQuery
from proxyinit.mesh.model.mesh import MeshModel


class MeshQueries:
    def __init__(self) -> None:
        # mesh -> (the nodes mapping they are of, {node: its query}, how many nodes ask each)
        self._last: dict[str, tuple[Mapping, dict[str, CloudMapQuery], Counter]] = {}

    def of(self, model: MeshModel) -> set[CloudMapQuery]:
        """Equals `model.cloud_map_queries()`."""
        nodes, last = model.nodes, self._last.get(model.name)
        base, written = model.delta.get("nodes", (None, ()))
        if last is not None and last[0] is nodes:
            per_node, counts = last[1], last[2]
        elif last is not None and base is last[0]:
            per_node, counts = last[1], last[2]  # followed in place: `last` is replaced below
            for name in written:
                _follow(per_node, counts, name, nodes.get(name))
        else:
            per_node, counts = {}, Counter()
            for name, node in nodes.items():
                _follow(per_node, counts, name, node)
        self._last[model.name] = (nodes, per_node, counts)
        return set(counts)


def _follow(per_node: dict, counts: Counter, name: str, node) -> None:
    old = per_node.pop(name, None)
    if old is not None:
        counts[old] -= 1
        if not counts[old]:
            del counts[old]
    discovery = None if node is None else node.spec.service_discovery
    if discovery and discovery.aws_cloud_map:
        query = per_node[name] = discovery.aws_cloud_map.query()
        counts[query] += 1
