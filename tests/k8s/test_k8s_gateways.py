"""VirtualGateway and GatewayRoute manifests as mesh input, as the App Mesh controller translated
them: names, the gateway a route belongs to (virtualGatewayRef, else the VirtualGateways whose
namespaceSelector and gatewayRouteSelector select it), target references, refusals that name the
object (pure: no server, no kernel)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from proxyinit.errors import ConfigError
from proxyinit.k8s.meshinput import load_mesh_file, read_input

DATA = Path(__file__).resolve().parents[1] / "data" / "k8s"
HOWTO, GATEWAY = DATA / "howto-k8s.yaml", DATA / "howto-gateway.yaml"


def docs() -> list[dict]:
    return [*yaml.safe_load_all(HOWTO.read_text()), *yaml.safe_load_all(GATEWAY.read_text())]


def named(objs: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def translated(tmp_path: Path, objs: list[dict]) -> list[dict]:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    return read_input(path).items


def refused(tmp_path: Path, objs: list[dict]) -> str:
    with pytest.raises(ConfigError) as err:
        translated(tmp_path, objs)
    return str(err.value)


def gateways(items: list[dict]) -> dict[str, dict]:
    return {
        i["virtualGatewayName"]: i
        for i in items
        if set(i) == {"meshName", "virtualGatewayName", "spec"}
    }


def routes(items: list[dict]) -> dict[str, dict]:
    return {i["gatewayRouteName"]: i for i in items if "gatewayRouteName" in i}


def internal_gateway(**spec) -> dict:
    return {
        "apiVersion": "appmesh.k8s.aws/v1beta2",
        "kind": "VirtualGateway",
        "metadata": {"name": "internal-gw", "namespace": "howto"},
        "spec": {
            "namespaceSelector": {},
            "listeners": [{"portMapping": {"port": 9090, "protocol": "http"}}],
            **spec,
        },
    }


def test_names_and_references_follow_the_controller(tmp_path):
    items = translated(tmp_path, docs())
    # awsName defaults: VirtualGateway and GatewayRoute <name>_<namespace>; selectors dropped.
    assert gateways(items) == {
        "ingress-gw_howto": {
            "meshName": "howto-mesh",
            "virtualGatewayName": "ingress-gw_howto",
            "spec": {
                "listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}],
                "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}},
            },
        }
    }
    found = routes(items)
    assert found["gateway-route-color_howto"] == {
        "meshName": "howto-mesh",
        "virtualGatewayName": "ingress-gw_howto",
        "gatewayRouteName": "gateway-route-color_howto",
        "spec": {
            "httpRoute": {
                "match": {"prefix": "/color"},
                "action": {
                    "target": {
                        "virtualService": {"virtualServiceName": "color.howto.svc.cluster.local"}
                    }
                },
            }
        },
    }
    front = found["front-route"]["spec"]
    assert front["priority"] == 10
    assert front["httpRoute"]["action"]["target"] == {
        "virtualService": {"virtualServiceName": "front.howto"}
    }
    assert front["httpRoute"]["action"]["rewrite"] == {
        "hostname": {"defaultTargetHostname": "DISABLED"}
    }


def test_the_control_plane_serves_the_gateway(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump_all(docs()))
    model = load_mesh_file(path)["howto-mesh"]
    assert list(model.gateways) == ["ingress-gw_howto"]
    assert sorted(r.name for r in model.gateway_routes["ingress-gw_howto"]) == [
        "front-route",
        "gateway-route-color_howto",
    ]


def test_gateway_route_selector_picks_the_gateway(tmp_path):
    objs = docs()
    named(objs, "VirtualGateway", "ingress-gw")["spec"]["gatewayRouteSelector"] = {
        "matchExpressions": [{"key": "gateway", "operator": "NotIn", "values": ["internal"]}]
    }
    selected = internal_gateway(gatewayRouteSelector={"matchLabels": {"gateway": "internal"}})
    named(objs, "GatewayRoute", "gateway-route-front")["metadata"]["labels"] = {
        "gateway": "internal"
    }
    found = routes(translated(tmp_path, [*objs, selected]))
    assert found["gateway-route-color_howto"]["virtualGatewayName"] == "ingress-gw_howto"
    assert found["front-route"]["virtualGatewayName"] == "internal-gw_howto"


def test_two_selecting_gateways_are_refused_as_the_webhook_did(tmp_path):
    # No gatewayRouteSelector selects every route of the selected namespaces: both match.
    message = refused(tmp_path, [*docs(), internal_gateway()])
    assert "GatewayRoute 'howto/gateway-route-color'" in message
    assert "found 2" in message and "ingress-gw" in message and "internal-gw" in message


def test_no_selecting_gateway_is_refused(tmp_path):
    objs = docs()
    named(objs, "VirtualGateway", "ingress-gw")["spec"]["namespaceSelector"] = {
        "matchLabels": {"gateway": "elsewhere"}
    }
    message = refused(tmp_path, objs)
    assert "GatewayRoute 'howto/gateway-route-color': metadata.namespace" in message
    assert "found 0" in message


def test_a_virtual_gateway_ref_wins_as_kubectl_get_output_has_it(tmp_path):
    objs = docs()
    route = named(objs, "GatewayRoute", "gateway-route-front")
    route["spec"]["virtualGatewayRef"] = {"name": "internal-gw", "namespace": "howto", "uid": "1"}
    # Without the ref both gateways would select it; the ref names one.
    selected = internal_gateway(gatewayRouteSelector={"matchLabels": {"never": "x"}})
    found = routes(translated(tmp_path, [*objs, selected]))
    assert found["front-route"]["virtualGatewayName"] == "internal-gw_howto"
    route["spec"]["virtualGatewayRef"] = {"name": "nope"}
    message = refused(tmp_path, [*objs, selected])
    assert "GatewayRoute 'howto/gateway-route-front': spec.virtualGatewayRef" in message
    assert "no VirtualGateway howto/nope in the input" in message


def test_a_gateway_in_another_mesh_is_refused(tmp_path):
    objs = docs()
    other = {
        "apiVersion": "appmesh.k8s.aws/v1beta2",
        "kind": "Mesh",
        "metadata": {"name": "other"},
        "spec": {"namespaceSelector": {"matchLabels": {"mesh": "other"}}},
    }
    gateway = internal_gateway(
        meshRef={"name": "other"}, gatewayRouteSelector={"matchLabels": {"never": "x"}}
    )
    named(objs, "GatewayRoute", "gateway-route-front")["spec"]["virtualGatewayRef"] = {
        "name": "internal-gw"
    }
    message = refused(tmp_path, [*objs, other, gateway])
    assert "GatewayRoute 'howto/gateway-route-front': spec.virtualGatewayRef" in message
    assert "is in mesh 'other', not 'howto-mesh'" in message


def test_a_bad_gateway_route_is_named_with_its_field_and_value(tmp_path):
    objs = docs()
    named(objs, "GatewayRoute", "gateway-route-color")["spec"]["httpRoute"]["match"]["prefix"] = (
        "color"
    )
    message = refused(tmp_path, objs)
    assert message.startswith("GatewayRoute 'howto/gateway-route-color': spec.httpRoute"), message
    assert "'color'" in message


def test_a_missing_target_service_is_named(tmp_path):
    objs = docs()
    action = named(objs, "GatewayRoute", "gateway-route-color")["spec"]["httpRoute"]["action"]
    action["target"]["virtualService"]["virtualServiceRef"] = {"name": "teal"}
    message = refused(tmp_path, objs)
    assert "GatewayRoute 'howto/gateway-route-color': spec.httpRoute.action.target" in message
    assert "no VirtualService howto/teal in the input" in message


def test_an_incomplete_listener_tls_is_refused_naming_the_gateway(tmp_path):
    # TLS itself is served; a file certificate without its privateKey is not (App Mesh too).
    objs = docs()
    listener = named(objs, "VirtualGateway", "ingress-gw")["spec"]["listeners"][0]
    listener["tls"] = {"mode": "STRICT", "certificate": {"file": {"certificateChain": "/c"}}}
    message = refused(tmp_path, objs)
    assert message.startswith("VirtualGateway 'howto/ingress-gw': spec.listeners[0].tls"), message


def test_a_namespace_not_in_the_input_is_selected_by_a_given_namespace_selector(tmp_path):
    # As for meshes: without the Namespace's labels, the one gateway that selects namespaces.
    objs = [o for o in docs() if o["kind"] != "Namespace"]
    found = routes(translated(tmp_path, objs))
    assert found["gateway-route-color_howto"]["virtualGatewayName"] == "ingress-gw_howto"


def test_a_bad_selector_is_named_on_its_gateway(tmp_path):
    objs = docs()
    named(objs, "VirtualGateway", "ingress-gw")["spec"]["gatewayRouteSelector"] = {
        "matchExpressions": [{"key": "gateway", "operator": "Near"}]
    }
    message = refused(tmp_path, objs)
    assert "VirtualGateway 'howto/ingress-gw': spec.gatewayRouteSelector.matchExpressions[0]" in (
        message
    )
    assert "'Near'" in message


def test_route_labels_that_are_no_mapping_are_refused_naming_the_route(tmp_path):
    objs = docs()
    named(objs, "GatewayRoute", "gateway-route-color")["metadata"]["labels"] = ["gateway"]
    message = refused(tmp_path, objs)
    assert "GatewayRoute 'howto/gateway-route-color': metadata.labels: expected a mapping" in (
        message
    )


def test_a_target_by_arn_and_a_grpc_route(tmp_path):
    objs = docs()
    arn = "arn:aws:appmesh:us-west-2:111122223333:mesh/howto-mesh/virtualService/front.howto"
    route = named(objs, "GatewayRoute", "gateway-route-color")
    route["spec"] = {
        "grpcRoute": {
            "match": {"serviceName": "shop.Cart"},
            "action": {"target": {"virtualService": {"virtualServiceARN": arn}}},
        }
    }
    listener = {"portMapping": {"port": 8089, "protocol": "grpc"}}
    named(objs, "VirtualGateway", "ingress-gw")["spec"]["listeners"].append(listener)
    found = routes(translated(tmp_path, objs))
    assert found["gateway-route-color_howto"]["spec"]["grpcRoute"]["action"]["target"] == {
        "virtualService": {"virtualServiceName": "front.howto"}
    }


def test_inject_cli_reports_the_gateway_pods():
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "proxyinit", "inject", "-f", str(DATA / "inject" / "gateway.yaml")]
        + ["--mesh", str(HOWTO), "--mesh", str(GATEWAY), "--xds-endpoint", "cp:15010"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert (
        "Deployment 'howto/ingress-gw': injected as gateway (VirtualGateway 'howto/ingress-gw' "
        "-> mesh/howto-mesh/virtualGateway/ingress-gw_howto)"
    ) in run.stderr
    assert "proxyinit-cp" not in run.stdout and "value: cp:15010" in run.stdout
