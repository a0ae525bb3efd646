"""The init container's path imports only what it needs (no timing here: see bench/apply.py)."""

from __future__ import annotations

import os

from proxyinit.contract import init_container_env
from tests.support.startup import collections_importers, heavy, imported_modules, importing


def test_the_disabled_entrypoint_imports_nothing_heavy():
    """APPMESH_START_ENABLED=0: settings read and checked, nothing applied (safe here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPMESH_", "PROXYINIT_"))}
    env.update({**init_container_env("9080"), "APPMESH_START_ENABLED": "0"})
    names, stderr = imported_modules([], env)
    assert "proxyinit.settings" in names and "routing is disabled" in stderr
    assert heavy(names) == set()


def test_the_installed_proxyinit_command_imports_nothing_heavy():
    """The `proxyinit` script itself (the image's ENTRYPOINT), not `python -m proxyinit`:
    a generated console script would import re (and enum) before our code runs."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.support.startup import NOT_ON_THE_INIT_PATH

    command = Path(sys.executable).with_name("proxyinit")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPMESH_", "PROXYINIT_"))}
    env.update({**init_container_env("9080"), "APPMESH_START_ENABLED": "0"})
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    proc = subprocess.run([str(command)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "routing is disabled" in proc.stderr, proc.stderr
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "proxyinit.settings" in names
    assert {n for n in names if n.split(".")[0] in NOT_ON_THE_INIT_PATH} == set()
    # Not checked with `-m proxyinit`: runpy imports collections (through contextlib) itself.
    assert collections_importers(proc.stderr) == [] and importing(names, "collections") == set()
