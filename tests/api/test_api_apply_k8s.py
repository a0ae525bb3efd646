"""`proxyinit mesh apply -f` with the App Mesh controller's manifests: through the real API (aws
CLI reads back what the controller would have created) and into a store file, one transaction."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.api.conftest import Server
from tests.api.test_api_apply import apply

HOWTO = Path(__file__).resolve().parents[1] / "data" / "k8s" / "howto-k8s.yaml"


def test_manifests_through_the_api_read_back_with_the_aws_cli(server):
    first = apply("-f", str(HOWTO), "--endpoint-url", server.url)
    assert first.returncode == 0, first.stderr
    assert "created   VirtualNode howto-mesh/front_howto" in first.stdout
    assert "created   Route howto-mesh/color-router_howto/color-route" in first.stdout
    assert "skipped 3 objects that are no App Mesh resource" in first.stderr
    node = server.aws(
        "describe-virtual-node", "--mesh-name", "howto-mesh", "--virtual-node-name", "front_howto"
    ).json["virtualNode"]
    assert node["spec"]["backends"] == [
        {"virtualService": {"virtualServiceName": "color.howto.svc.cluster.local"}}
    ]
    again = apply("-f", str(HOWTO), "--endpoint-url", server.url)
    assert again.stdout.count("unchanged") == 7 and "created" not in again.stdout


def test_a_bad_object_in_a_directory_applies_nothing(tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    shutil.copy(HOWTO, manifests / "a.yaml")
    (manifests / "b.yaml").write_text(
        "apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\n"
        "metadata: {name: green, namespace: howto}\n"
        "spec:\n  listeners: [{portMapping: {port: 8080, protocol: http}}]\n"
    )
    db = tmp_path / "seed.db"
    refused = apply("-f", str(manifests), "--db", str(db))
    assert refused.returncode == 2
    assert "VirtualNode 'howto/green'" in refused.stderr
    assert "serviceDiscovery is required" in refused.stderr
    assert not db.exists()  # refused before the store was opened: nothing applied
    (manifests / "b.yaml").unlink()
    applied = apply("-f", str(manifests), "--db", str(db))
    assert applied.returncode == 0, applied.stderr
    server = Server(db)
    server.start()
    try:
        nodes = server.aws("list-virtual-nodes", "--mesh-name", "howto-mesh").json
        assert sorted(n["virtualNodeName"] for n in nodes["virtualNodes"]) == [
            "blue_howto",
            "front_howto",
            "red-vn",
        ]
    finally:
        server.stop()
