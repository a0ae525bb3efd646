"""The redirect, proven with real TCP in real namespaces, for each backend and both families."""

from __future__ import annotations

import pytest

from proxyinit.lab.netns import Lab
from tests.cases import env
from tests.netns.conftest import (
    APP4,
    APP6,
    BACKENDS,
    IGNORED4,
    IGNORED6,
    PEER4,
    PEER6,
    add_foreign_rules,
    build_topology,
    proxyinit,
    save,
    variant_of,
)

CONFIG = env(
    ENABLE_IPV6="1",
    IGNORE_GID="1338",
    EGRESS_IGNORED_PORTS="3306",
    EGRESS_IGNORED_IP=f"{IGNORED4},{IGNORED6}",
)


@pytest.fixture(scope="module", params=BACKENDS)
def applied(request):
    """One topology per backend: foreign rules first, then our apply."""
    backend = request.param
    lab = Lab()
    try:
        topo = build_topology(lab)
        add_foreign_rules(topo.app, variant_of(backend))
        before = {v6: save(topo.app, variant_of(backend), v6) for v6 in (False, True)}
        result = proxyinit(topo.app, "apply", env=CONFIG, backend=backend)
        assert result.returncode == 0, result.stderr
        yield backend, topo, before
    finally:
        lab.close()


FAMILIES = {"v4": (APP4, PEER4, IGNORED4, "127.0.0.1"), "v6": (APP6, PEER6, IGNORED6, "::1")}


def fmt(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@pytest.mark.parametrize("family", FAMILIES)
def test_inbound_app_port_lands_on_ingress_listener(applied, family):
    _, topo, _ = applied
    app, *_ = FAMILIES[family]
    assert topo.connect(app, 9080, uid=None, ns=topo.peer) == f"ingress {fmt(app, 9080)}"


@pytest.mark.parametrize("family", FAMILIES)
def test_inbound_other_port_goes_direct(applied, family):
    _, topo, _ = applied
    app, *_ = FAMILIES[family]
    assert topo.connect(app, 8080, uid=None, ns=topo.peer) == f"local {fmt(app, 8080)}"


@pytest.mark.parametrize("family", FAMILIES)
def test_app_egress_lands_on_egress_listener_with_original_destination(applied, family):
    _, topo, _ = applied
    _, peer, _, _ = FAMILIES[family]
    assert topo.connect(peer, 80, uid=1000) == f"egress {fmt(peer, 80)}"


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    ("case", "uid", "gid", "port", "ignored_addr"),
    [
        ("envoy_uid", 1337, None, 80, False),
        ("ignored_gid", 1000, 1338, 80, False),
        ("port_22_always", 1000, None, 22, False),
        ("ignored_port", 1000, None, 3306, False),
        ("ignored_address", 1000, None, 80, True),
    ],
)
def test_exempt_egress_goes_direct(applied, family, case, uid, gid, port, ignored_addr):
    _, topo, _ = applied
    _, peer, ignored, _ = FAMILIES[family]
    target = ignored if ignored_addr else peer
    assert topo.connect(target, port, uid=uid, gid=gid) == f"peer {fmt(target, port)}"


@pytest.mark.parametrize("family", FAMILIES)
def test_local_destination_goes_direct(applied, family):
    _, topo, _ = applied
    *_, loopback = FAMILIES[family]
    assert topo.connect(loopback, 8080, uid=1000) == f"local {fmt(loopback, 8080)}"


def test_apply_twice_is_byte_identical_and_commits_nothing(applied):
    backend, topo, _ = applied
    variant = variant_of(backend)
    first = [save(topo.app, variant, v6) for v6 in (False, True)]
    again = proxyinit(topo.app, "apply", env=CONFIG, backend=backend)
    assert again.returncode == 0, again.stderr
    assert "in sync, nothing committed" in again.stderr
    assert [save(topo.app, variant, v6) for v6 in (False, True)] == first


def test_status_match_then_plan_is_empty(applied):
    backend, topo, _ = applied
    status = proxyinit(topo.app, "status", env=CONFIG, backend=backend)
    assert status.returncode == 0, status.stdout + status.stderr
    plan = proxyinit(topo.app, "plan", env=CONFIG, backend=backend)
    assert "*nat" not in plan.stdout and plan.stdout.count("in sync") == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_clean_leaves_foreign_rules_byte_identical(lab, backend):
    """Its own topology: apply, clean twice, then nothing of ours and everything else as before."""
    topo = build_topology(lab)
    add_foreign_rules(topo.app, variant_of(backend))
    before = {v6: save(topo.app, variant_of(backend), v6) for v6 in (False, True)}
    assert proxyinit(topo.app, "apply", env=CONFIG, backend=backend).returncode == 0
    assert "APPMESH_EGRESS" in save(topo.app, variant_of(backend), True)
    for _ in range(2):
        result = proxyinit(topo.app, "clean", backend=backend)
        assert result.returncode == 0, result.stderr
    after = {v6: save(topo.app, variant_of(backend), v6) for v6 in (False, True)}
    assert "APPMESH" not in after[False] + after[True]
    assert after == before
    assert topo.connect(PEER4, 80, uid=1000) == f"peer {PEER4}:80"
