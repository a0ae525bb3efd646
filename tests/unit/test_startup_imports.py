"""The init container's path imports only what it needs (no timing here: see bench/apply.py)."""

from __future__ import annotations

import os

from proxyinit.contract import init_container_env
from tests.support.startup import heavy, imported_modules


def test_the_disabled_entrypoint_imports_nothing_heavy():
    """APPMESH_START_ENABLED=0: settings read and checked, nothing applied (safe here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPMESH_", "PROXYINIT_"))}
    env.update({**init_container_env("9080"), "APPMESH_START_ENABLED": "0"})
    names, stderr = imported_modules([], env)
    assert "proxyinit.settings" in names and "routing is disabled" in stderr
    assert heavy(names) == set()
