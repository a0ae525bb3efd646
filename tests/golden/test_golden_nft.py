"""Each named scenario's native nftables table (`--backend nftables`) in a file, like the
restore goldens next to it. Regenerate with `REFRESH_GOLDEN=1`."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxyinit.firewall.nft_rules import render_table
from proxyinit.settings import load_settings
from tests.cases import SCENARIOS
from tests.support.golden import check_golden

DATA = Path(__file__).parent / "data" / "nft"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_matches_nft_golden(name):
    check_golden(DATA / f"{name}.nft", render_table(load_settings(SCENARIOS[name])))
