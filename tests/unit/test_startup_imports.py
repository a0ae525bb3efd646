"""The init container's path imports only what it needs (no timing here: see bench/apply.py)."""

from __future__ import annotations

import os

import pytest

from proxyinit.contract import init_container_env
from tests.support.startup import (
    command_imports,
    heavy,
    imported_modules,
    importers,
    importing,
)

# stdlib (runpy, for `python -m`) imports them first: the tree may not show ours
HIDDEN = {"collections", "functools", "os"}


@pytest.mark.parametrize("collect", [imported_modules, command_imports])
def test_the_disabled_entrypoint_imports_nothing_heavy(collect):
    """APPMESH_START_ENABLED=0: settings read and checked, nothing applied (safe here). Through
    `python -m proxyinit` and through the `proxyinit` script itself (the image's ENTRYPOINT),
    which a generated console script would make import re (and enum) before our code runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPMESH_", "PROXYINIT_"))}
    env.update({**init_container_env("9080"), "APPMESH_START_ENABLED": "0"})
    names, stderr = collect([], env)
    assert "proxyinit.settings" in names and "routing is disabled" in stderr
    assert heavy(names) == set(), importers(stderr, heavy(names))
    assert importing(names, HIDDEN) == set()


def test_the_init_container_process_runs_without_the_cycle_collector(monkeypatch):
    """Its process ends with os._exit a few ms later: collecting cycles is work for nothing."""
    import gc
    import sys

    from proxyinit import cli

    seen = []
    monkeypatch.setattr(sys, "argv", ["proxyinit"])
    monkeypatch.delenv("CNI_COMMAND", raising=False)
    monkeypatch.setattr(cli, "_main", lambda argv: seen.append(gc.isenabled()) or 0)

    def exit_now(code):
        seen.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(cli, "_exit_now", exit_now)
    try:
        with pytest.raises(SystemExit):
            cli.main()
    finally:
        gc.enable()
    assert seen == [False, 0]
    monkeypatch.setattr(sys, "argv", ["proxyinit", "status"])  # any other command keeps it
    cli.main()
    assert seen[-1] is True
