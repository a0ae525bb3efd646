"""Each named scenario (mutators of the colorapp mesh) translated per node, pinned in a golden file.

tests/mesh/golden/<scenario>/<node>.json. Regenerate with `REFRESH_GOLDEN=1 pytest tests/mesh`
(the project's one golden switch) and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from proxyinit.contract import NodeId
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.node import translate_node
from tests.mesh.mesh_golden import render
from tests.mesh.mesh_scenarios import MESH, SCENARIOS, scenario_resources

GOLDEN = Path(__file__).parent / "golden"
CASES = [(scenario, node) for scenario, (_, nodes) in sorted(SCENARIOS.items()) for node in nodes]


@pytest.mark.parametrize(("scenario", "node"), CASES, ids=[f"{s}/{n}" for s, n in CASES])
def test_translation_matches_golden(scenario, node):
    model = parse_resources(scenario_resources(scenario))[MESH]
    text = render(translate_node(model, NodeId(MESH, node)))
    path = GOLDEN / scenario / f"{node}.json"
    if os.environ.get("REFRESH_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden for {scenario}/{node}: run with REFRESH_GOLDEN=1"
    assert text == path.read_text(), f"{path} differs: review, then REFRESH_GOLDEN=1"


def test_translation_is_deterministic():
    model = parse_resources(scenario_resources("grpc_route"))[MESH]
    first = render(translate_node(model, NodeId(MESH, "colorgateway-vn")))
    again = parse_resources(scenario_resources("grpc_route"))[MESH]
    assert render(translate_node(again, NodeId(MESH, "colorgateway-vn"))) == first
