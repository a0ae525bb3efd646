"""`proxyinit mesh apply -f DIR` with the controller's VirtualGateway and GatewayRoute manifests:
through the real API, read back with the aws CLI as the controller would have created them."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.api.test_api_apply import apply

DATA = Path(__file__).resolve().parents[1] / "data" / "k8s"


def test_gateway_manifests_through_the_api_read_back_with_the_aws_cli(server, tmp_path):
    manifests = tmp_path / "mesh"
    manifests.mkdir()
    shutil.copy(DATA / "howto-k8s.yaml", manifests / "a.yaml")
    shutil.copy(DATA / "howto-gateway.yaml", manifests / "b.yaml")
    first = apply("-f", str(manifests), "--endpoint-url", server.url)
    assert first.returncode == 0, first.stderr
    assert "created   VirtualGateway howto-mesh/ingress-gw_howto" in first.stdout
    route = server.aws(
        "describe-gateway-route",
        "--mesh-name",
        "howto-mesh",
        "--virtual-gateway-name",
        "ingress-gw_howto",
        "--gateway-route-name",
        "gateway-route-color_howto",
    ).json["gatewayRoute"]
    target = route["spec"]["httpRoute"]["action"]["target"]
    assert target["virtualService"] == {"virtualServiceName": "color.howto.svc.cluster.local"}
    again = apply("-f", str(manifests), "--endpoint-url", server.url)
    assert again.returncode == 0 and "created" not in again.stdout
