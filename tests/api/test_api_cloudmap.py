"""`serviceDiscovery.awsCloudMap` through the real aws CLI and a real `xds serve --db --api`.

AWS cannot be reached from tests: moto's servicediscovery server, started here on loopback, stands
in for AWS Cloud Map (tests/support/cloudmap.py); the server finds it through the standard AWS_*
variables it inherits, as it would find AWS.
"""

from __future__ import annotations

import time

import pytest

from tests.api.conftest import Server
from tests.support.cloudmap import fake_cloud_map

pytestmark = pytest.mark.timeout(120)

MESH, NS, SVC = "cm-api", "cm.local", "color"
CLOUD_MAP = {
    "namespaceName": NS,
    "serviceName": SVC,
    "attributes": [{"key": "stage", "value": "prod"}],
    "ipPreference": "IPv4_PREFERRED",
}


def _status(server: Server, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = server.debug_state().get("cloudMap", {})
        if state or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


def test_aws_cloud_map_node_is_accepted_described_and_discovered(tmp_path, monkeypatch):
    with fake_cloud_map() as cloud_map:
        for key, value in cloud_map.env.items():
            monkeypatch.setenv(key, value)
        cloud_map.register(NS, SVC, "i-1", AWS_INSTANCE_IPV4="198.18.0.11", stage="prod")
        cloud_map.register(NS, SVC, "i-2", AWS_INSTANCE_IPV4="198.18.0.12", stage="test")
        server = Server(tmp_path / "mesh.db")
        server.start()
        try:
            server.aws("create-mesh", "--mesh-name", MESH)
            listeners = [{"portMapping": {"port": 8080, "protocol": "http"}}]
            spec = {"listeners": listeners, "serviceDiscovery": {"awsCloudMap": CLOUD_MAP}}
            created = server.create_node(MESH, "color-vn", spec).json["virtualNode"]
            assert created["spec"]["serviceDiscovery"] == {"awsCloudMap": CLOUD_MAP}
            described = server.aws(
                "describe-virtual-node", "--mesh-name", MESH, "--virtual-node-name", "color-vn"
            ).json["virtualNode"]
            assert described["spec"] == created["spec"]
            # The aws CLI checks the union and lengths itself; the key pattern is the server's.
            bad = {"awsCloudMap": {**CLOUD_MAP, "attributes": [{"key": "a b", "value": "x"}]}}
            refused = server.create_node(
                MESH, "bad-vn", {"listeners": listeners, "serviceDiscovery": bad}, False
            )
            assert "(BadRequestException)" in refused.stderr
            assert "attributes" in refused.stderr and "key" in refused.stderr, refused.stderr
            status = _status(server)
        finally:
            server.stop()
    (query,) = status
    assert query == f"{NS}/{SVC} stage=prod"
    assert status[query]["state"] == "OK" and status[query]["instances"] == 1, status
