"""Each named scenario (mutators of the colorapp mesh) translated per node, pinned in a golden file.

tests/mesh/golden/<scenario>/<node>.json. Regenerate with `REFRESH_GOLDEN=1 pytest tests/mesh`
(the project's one golden switch; it fails naming each file it rewrote) and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from proxyinit.contract import NodeId
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.node import translate_node
from tests.mesh.mesh_golden import render
from tests.mesh.mesh_scenarios import MESH, SCENARIOS, scenario_resources
from tests.support.golden import check_golden

GOLDEN = Path(__file__).parent / "golden"
CASES = [(scenario, node) for scenario, (_, nodes) in sorted(SCENARIOS.items()) for node in nodes]


@pytest.mark.parametrize(("scenario", "node"), CASES, ids=[f"{s}/{n}" for s, n in CASES])
def test_translation_matches_golden(scenario, node):
    model = parse_resources(scenario_resources(scenario))[MESH]
    text = render(translate_node(model, NodeId(MESH, node)))
    check_golden(GOLDEN / scenario / f"{node}.json", text)


def test_translation_is_deterministic():
    model = parse_resources(scenario_resources("grpc_route"))[MESH]
    first = render(translate_node(model, NodeId(MESH, "colorgateway-vn")))
    again = parse_resources(scenario_resources("grpc_route"))[MESH]
    assert render(translate_node(again, NodeId(MESH, "colorgateway-vn"))) == first
