"""NodeIds (controlplane/node_ids.py) equals making every id again, in the model's order, and
keeps each node's NodeId object from one model to the next."""

from __future__ import annotations

import random
from types import MappingProxyType, SimpleNamespace

from proxyinit.contract import NodeId
from proxyinit.controlplane.node_ids import NodeIds, mesh_order


def model(nodes, gateways=()):
    table = lambda names: MappingProxyType(dict.fromkeys(sorted(names)))  # noqa: E731
    return SimpleNamespace(name="m", nodes=table(nodes), gateways=table(gateways))


def every_id(m) -> dict[str, NodeId]:
    ids = [NodeId(m.name, n) for n in m.nodes] + [
        NodeId(m.name, n, "virtualGateway") for n in m.gateways
    ]
    return {str(node_id): node_id for node_id in ids}


def test_ids_follow_nodes_added_and_removed_and_are_kept():
    rng = random.Random(7)
    ids = NodeIds()
    nodes, gateways = {"a", "b"}, {"g"}
    kept = ids.of(model(nodes, gateways))
    for _ in range(60):
        pool = nodes if rng.random() < 0.8 else gateways
        name = f"x{rng.randrange(12)}"
        if rng.random() < 0.5:
            pool.add(name)
        else:
            pool.discard(name)
        m = model(nodes, gateways)
        now = ids.of(m)
        assert list(now.items()) == list(every_id(m).items())
        assert all(now[key] is node_id for key, node_id in kept.items() if key in now)
        assert sorted(now, key=mesh_order) == list(now)
        kept = now


def test_the_same_names_give_the_same_mapping():
    ids = NodeIds()
    first = ids.of(model({"a", "b"}))
    assert ids.of(model({"b", "a"})) is first
    ids.forget("m")
    assert ids.of(model({"a", "b"})) is not first
