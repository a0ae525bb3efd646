"""Each named scenario's restore text (both families, against an empty namespace) in a file.

Regenerate with REFRESH_GOLDEN=1 make test (or pytest tests/golden); review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from proxyinit.firewall.converge import plan_apply
from proxyinit.firewall.render import render_plan
from proxyinit.settings import load_settings
from tests.cases import SCENARIOS
from tests.support.recording_backend import RecordingBackend

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_matches_golden(name):
    plan = plan_apply(load_settings(SCENARIOS[name]), RecordingBackend())
    text = render_plan(plan)
    path = DATA / f"{name}.restore"
    if os.environ.get("REFRESH_GOLDEN") == "1":
        DATA.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden for {name}: run with REFRESH_GOLDEN=1"
    assert text == path.read_text()
