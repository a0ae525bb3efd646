"""Gateway manifests served to a real Envoy: the App Mesh controller's VirtualGateway and
GatewayRoute (with the VirtualNode and VirtualService they reach) as the control plane's mesh
file, the gateway Deployment through `inject`, and an Envoy bootstrapped from the injected
container's env (APPMESH_VIRTUAL_NODE_NAME as the webhook set it) routing a request to the app.

No iptables: a gateway is Envoy alone. Its listener is moved to loopback on the same free port;
the node's DNS hostname is 127.0.0.2, where an app echoes the path and Host it received.
"""

from __future__ import annotations

import io

import pytest
import yaml

from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.controlplane.plane import ControlPlane
from proxyinit.k8s.inject import Options, inject
from proxyinit.k8s.manifests import read_objects
from proxyinit.mesh.runtime.bootstrap import envoy_flags, render_bootstrap, settings_from_env
from proxyinit.mesh.runtime.envoy import EnvoyProcess, find_envoy_binary
from proxyinit.xds.endpoint import Endpoint
from tests.support.loopback import free_port
from tests.xds.test_xds_gateway_envoy import APP_HOST, _eventually, _get, _on_loopback, echoing

pytestmark = pytest.mark.envoy

V1 = "appmesh.k8s.aws/v1beta2"


def manifests(gateway_port: int, app_port: int) -> list[dict]:
    def obj(kind: str, name: str, spec: dict, api: str = V1, **meta) -> dict:
        return {"apiVersion": api, "kind": kind, "metadata": {"name": name, **meta}, "spec": spec}

    listener = {"portMapping": {"port": app_port, "protocol": "http"}}
    route = {
        "httpRoute": {
            "match": {"prefix": "/echo/"},
            "action": {"target": {"virtualService": {"virtualServiceRef": {"name": "echo"}}}},
        }
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "shop",
                "labels": {
                    "mesh": "shop",
                    "gateway": "shop-gw",
                    "appmesh.k8s.aws/sidecarInjectorWebhook": "enabled",
                },
            },
        },
        obj("Mesh", "shop", {"namespaceSelector": {"matchLabels": {"mesh": "shop"}}}),
        obj(
            "VirtualNode",
            "echo",
            {
                "podSelector": {"matchLabels": {"app": "echo"}},
                "listeners": [listener],
                "serviceDiscovery": {"dns": {"hostname": APP_HOST}},
            },
            namespace="shop",
        ),
        obj(
            "VirtualService",
            "echo",
            {"provider": {"virtualNode": {"virtualNodeRef": {"name": "echo"}}}},
            namespace="shop",
        ),
        obj(
            "VirtualGateway",
            "shop-gw",
            {
                "namespaceSelector": {"matchLabels": {"gateway": "shop-gw"}},
                "podSelector": {"matchLabels": {"app": "shop-gw"}},
                "listeners": [{"portMapping": {"port": gateway_port, "protocol": "http"}}],
            },
            namespace="shop",
        ),
        obj("GatewayRoute", "echo-route", route, namespace="shop"),
    ]


GATEWAY_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop-gw, namespace: shop}
spec:
  selector: {matchLabels: {app: shop-gw}}
  template:
    metadata: {labels: {app: shop-gw}}
    spec:
      containers:
        - name: envoy
          image: public.ecr.aws/appmesh/aws-appmesh-envoy:v1.27.3.0-prod
"""


def injected_env(mesh_path, xds: str) -> dict[str, str]:
    deployment = read_objects("-", io.StringIO(GATEWAY_DEPLOYMENT))
    result = inject(deployment, read_objects(str(mesh_path)), Options(xds, "proxyinit:test"))
    pod = result.docs[0]["spec"]["template"]["spec"]
    [envoy] = pod["containers"]
    assert envoy["args"] == ["envoy-run"] and "initContainers" not in pod
    return {e["name"]: e["value"] for e in envoy["env"]}


async def test_gateway_manifests_route_through_a_real_envoy(tmp_path):
    find_envoy_binary()
    gateway_port, app_port = free_port(), free_port()
    mesh_path = tmp_path / "mesh.yaml"
    mesh_path.write_text(yaml.safe_dump_all(manifests(gateway_port, app_port)))
    control_plane = ControlPlane(
        Endpoint(host="127.0.0.1", port=0),
        mesh_file=FileMeshSource(mesh_path, interval=0.05),
        debug=None,
        translate=_on_loopback,
    )
    envoy = EnvoyProcess()
    with echoing(app_port):
        async with control_plane:
            env = injected_env(mesh_path, f"127.0.0.1:{control_plane.xds_port}")
            assert env["APPMESH_VIRTUAL_NODE_NAME"] == "mesh/shop/virtualGateway/shop-gw_shop"
            settings = settings_from_env(
                {
                    **env,
                    "ENVOY_ADMIN_ACCESS_PORT": "0",
                    "ENVOY_ADMIN_ACCESS_LOG_FILE": str(envoy.workdir / "admin_access.log"),
                    "ENVOY_LOG_LEVEL": "warning",
                    "ENVOY_CONCURRENCY": "1",
                }
            )
            envoy.flags += envoy_flags(settings)
            try:
                await envoy.start(render_bootstrap(settings), timeout=15)
                seen = await _eventually(lambda: _get(gateway_port, "/echo/1", "shop.example"))
                # App Mesh's default rewrites: the target service's name, the prefix -> "/".
                assert seen == {"path": "/1", "host": "echo.shop"}
                assert _get(gateway_port, "/other", "shop.example") == 404
            finally:
                await envoy.stop()
