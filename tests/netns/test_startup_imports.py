"""The init container's whole path (apply in a fresh namespace, default set, v4 + v6) imports
only what it needs, on every backend but iptc (python-iptables is that backend)."""

from __future__ import annotations

import os

import pytest

from proxyinit.contract import init_container_env
from proxyinit.lab.netns import netns_exec
from tests.support.startup import (
    collections_importers,
    command_imports,
    heavy,
    imported_modules,
    importing,
)


@pytest.mark.parametrize("backend", ["legacy", "nft", "nftables", "auto"])
def test_apply_imports_nothing_heavy(netns, backend):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPMESH_", "PROXYINIT_"))}
    env.update(init_container_env("9080,9081,9082"))
    env.update({"APPMESH_ENABLE_IPV6": "1", "PROXYINIT_BACKEND": backend})
    names, stderr = imported_modules(netns_exec(netns), env)
    assert "committed" in stderr, stderr
    assert heavy(names) == set()


@pytest.mark.parametrize("backend", ["legacy", "nft", "nftables", "auto"])
def test_apply_imports_collections_only_for_ipaddress(netns, backend):
    """collections (~2.4 ms): no importer on the path but ipaddress's (until it goes too),
    in the tree (its first importer, named) and in our modules' sources (any importer)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPMESH_", "PROXYINIT_"))}
    env.update(init_container_env("9080,9081,9082"))
    env.update({"APPMESH_ENABLE_IPV6": "1", "PROXYINIT_BACKEND": backend})
    names, stderr = command_imports(netns_exec(netns), env)  # not -m: runpy imports it
    assert "committed" in stderr, stderr
    assert collections_importers(stderr) == []
    assert importing(names, "collections") == set()


@pytest.mark.parametrize("backend", ["legacy", "nftables"])
def test_the_installed_command_applies_without_site_or_contextlib(netns, backend):
    """The image's ENTRYPOINT itself (`-S`, scripts/proxyinit), not `python -m proxyinit`
    (runpy imports contextlib): firewall/lock.py holds its locks without contextlib."""
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPMESH_", "PROXYINIT_"))}
    env.update(init_container_env("9080,9081,9082"))
    env.update({"APPMESH_ENABLE_IPV6": "1", "PROXYINIT_BACKEND": backend})
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    command = str(Path(sys.executable).with_name("proxyinit"))
    proc = subprocess.run(
        netns_exec(netns, command), env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0 and "committed" in proc.stderr, proc.stderr
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "proxyinit.firewall.lock" in names
    assert not {"site", "contextlib"} & names | heavy(names)
