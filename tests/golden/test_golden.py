"""Each named scenario's restore text (both families, against an empty namespace) in a file.

Regenerate with `REFRESH_GOLDEN=1 pytest tests/golden` (it fails naming each file it rewrote);
review the diff, then run again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from proxyinit.firewall.converge import plan_apply
from proxyinit.firewall.render import render_plan
from proxyinit.settings import load_settings
from tests.cases import SCENARIOS
from tests.support.golden import check_golden
from tests.support.recording_backend import RecordingBackend

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_matches_golden(name):
    plan = plan_apply(load_settings(SCENARIOS[name]), RecordingBackend())
    text = render_plan(plan)
    check_golden(DATA / f"{name}.restore", text)
