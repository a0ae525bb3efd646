"""The real Envoy accepts every translated node of every scenario (`envoy --mode validate`).

Cheap (no network, no root) and catches what a NACK would: unknown fields, failed proto
constraints, non-terminal filter chains, deprecated fields (warnings are failures here).
"""

from __future__ import annotations

import pytest

from proxyinit.contract import NodeId
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.node import translate_node
from tests.mesh.mesh_envoy_check import envoy_validate
from tests.mesh.mesh_scenarios import MESH, SCENARIOS, scenario_resources

pytestmark = pytest.mark.envoy


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_envoy_accepts_every_node(scenario, tmp_path):
    model = parse_resources(scenario_resources(scenario))[MESH]
    for name in model.nodes:
        workdir = tmp_path / name
        workdir.mkdir()
        result = envoy_validate(translate_node(model, NodeId(MESH, name)), workdir)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{scenario}/{name}: {output[-3000:]}"
        assert "deprecated" not in output.lower(), f"{scenario}/{name}: {output[-3000:]}"
