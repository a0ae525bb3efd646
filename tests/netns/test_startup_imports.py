"""The init container's whole path (apply in a fresh namespace, default set, v4 + v6) imports
only what it needs, on every backend but iptc (python-iptables is that backend)."""

from __future__ import annotations

import os

import pytest

from proxyinit.contract import init_container_env
from proxyinit.lab.netns import netns_exec
from tests.support.startup import command_imports, heavy, imported_modules, importers, importing

# stdlib (runpy, for `python -m`) imports them first: the tree may not show ours
HIDDEN = {"collections", "functools", "os"}


def apply_env(backend: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPMESH_", "PROXYINIT_"))}
    env.update(init_container_env("9080,9081,9082"))
    env.update({"APPMESH_ENABLE_IPV6": "1", "PROXYINIT_BACKEND": backend})
    return env


@pytest.mark.parametrize("backend", ["legacy", "nft", "nftables", "auto"])
def test_apply_imports_nothing_heavy(netns, backend):
    names, stderr = imported_modules(netns_exec(netns), apply_env(backend))
    assert "committed" in stderr, stderr
    assert heavy(names) == set(), importers(stderr, heavy(names))
    assert importing(names, HIDDEN) == set()


@pytest.mark.parametrize("backend", ["legacy", "nft", "nftables", "auto"])
def test_the_installed_command_applies_without_site_or_contextlib(netns, backend):
    """The image's ENTRYPOINT itself (`-S`, scripts/proxyinit), not `python -m proxyinit`
    (runpy imports contextlib and collections): firewall/lock.py holds its locks without
    contextlib; nothing imports collections (the tree names who would)."""
    names, stderr = command_imports(netns_exec(netns), apply_env(backend))
    assert "committed" in stderr, stderr
    assert "proxyinit.firewall.lock" in names
    found = {"site", "contextlib"} & names | heavy(names)
    assert not found, importers(stderr, found)
