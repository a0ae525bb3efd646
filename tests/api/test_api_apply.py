"""`proxyinit mesh apply -f FILE`: through the running API, or straight into a store file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.api.conftest import Server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "colorapp"


def apply(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "proxyinit", "mesh", "apply", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_apply_through_the_api_creates_updates_and_is_idempotent(server):
    first = apply("-f", str(EXAMPLES / "mesh.yaml"), "--endpoint-url", server.url)
    assert first.returncode == 0, first.stderr
    assert "created   Route default/colorteller-vr/colorteller-route" in first.stdout
    again = apply("-f", str(EXAMPLES / "mesh.yaml"), "--endpoint-url", server.url)
    # 8 resources, and the walkthrough's ingress: a service, a gateway and its gateway route
    assert again.stdout.count("unchanged") == 11 and "created" not in again.stdout
    moved = apply("-f", str(EXAMPLES / "route-blue-red.yaml"), "--endpoint-url", server.url)
    assert "updated   Route default/colorteller-vr/colorteller-route" in moved.stdout
    route = server.aws(
        "describe-route",
        "--mesh-name",
        "default",
        "--virtual-router-name",
        "colorteller-vr",
        "--route-name",
        "colorteller-route",
    ).json["route"]
    assert route["metadata"]["version"] == 2


def test_a_bad_file_is_refused_whole_and_named(server, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (EXAMPLES / "route-blue-red.yaml").read_text().replace("weight: 8}", "weight: 800}")
    )
    refused = apply("-f", str(bad), "--endpoint-url", server.url)
    assert refused.returncode == 2
    assert "weightedTargets[0].weight" in refused.stderr and "800" in refused.stderr
    assert server.aws("list-meshes").json["meshes"] == []


def test_apply_into_a_store_file_then_serve_it(tmp_path):
    db = tmp_path / "seed.db"
    seeded = apply("-f", str(EXAMPLES / "preview-2018.json"), "--db", str(db))
    assert seeded.returncode == 0, seeded.stderr
    assert "created   VirtualService default/colorteller.default.svc.cluster.local" in seeded.stdout
    server = Server(db)
    server.start()
    try:
        router = server.aws(
            "describe-virtual-router",
            "--mesh-name",
            "default",
            "--virtual-router-name",
            "colorteller-vr",
        ).json
        # The preview router had no listeners: the one its routes' targets share was derived.
        assert router["virtualRouter"]["spec"] == {
            "listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}]
        }
    finally:
        server.stop()


def test_a_file_that_only_names_its_mesh_keeps_the_stored_mesh_spec(server):
    server.aws(
        "create-mesh", "--mesh-name", "default", "--spec", '{"egressFilter": {"type": "ALLOW_ALL"}}'
    )
    applied = apply("-f", str(EXAMPLES / "preview-2018.json"), "--endpoint-url", server.url)
    assert "unchanged Mesh default" in applied.stdout, applied.stderr
    mesh = server.aws("describe-mesh", "--mesh-name", "default").json["mesh"]
    assert (
        mesh["spec"] == {"egressFilter": {"type": "ALLOW_ALL"}} and mesh["metadata"]["version"] == 1
    )
