"""The real Envoy accepts every translated node of every scenario (`envoy --mode validate`).

Cheap (no network, no root) and catches what a NACK would: unknown fields, failed proto
constraints, non-terminal filter chains, deprecated fields (warnings are failures here).
"""

from __future__ import annotations

import pytest

from proxyinit.contract import NodeId
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.node import translate_node
from tests.mesh.mesh_envoy_check import envoy_validate, with_real_certs
from tests.mesh.mesh_scenarios import MESH, SCENARIOS, scenario_resources

pytestmark = pytest.mark.envoy


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_envoy_accepts_every_node(scenario, tmp_path):
    resources = with_real_certs(scenario_resources(scenario), tmp_path)
    model = parse_resources(resources)[MESH]
    for name in model.nodes:
        workdir = tmp_path / name
        workdir.mkdir()
        result = envoy_validate(translate_node(model, NodeId(MESH, name)), workdir)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{scenario}/{name}: {output[-3000:]}"
        assert "deprecated" not in output.lower(), f"{scenario}/{name}: {output[-3000:]}"


def _accepted_forms() -> list[str]:
    """Every operator in every form the access log check accepts (a param Envoy takes anywhere)."""
    from proxyinit.mesh.model.access_log import OPERATORS, check_format

    forms = []
    for name in sorted(OPERATORS):
        for token in (f"%{name}%", f"%{name}(x)%", f"%{name}:9%", f"%{name}(x):9%"):
            try:
                forms.append(check_format(token))
            except ValueError:
                pass
    return forms


def test_envoy_accepts_every_access_log_operator_form_we_accept(tmp_path):
    resources = scenario_resources("colorapp")
    pairs = [{"key": f"k{i}", "value": token} for i, token in enumerate(_accepted_forms())]
    for item in resources:
        if item.get("virtualNodeName") == "colorteller-vn":
            file = {"path": "/dev/null", "format": {"json": pairs}}
            item["spec"]["logging"] = {"accessLog": {"file": file}}
    model = parse_resources(resources)[MESH]
    result = envoy_validate(translate_node(model, NodeId(MESH, "colorteller-vn")), tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
