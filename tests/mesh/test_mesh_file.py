"""The mesh file loader, the 2018 preview shapes, and the API shape round trip."""

from __future__ import annotations

import json

import pytest
import yaml

from proxyinit.contract import NodeId
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.meshfile import load_mesh_file, parse_resources
from proxyinit.mesh.model.resources import VirtualNode, VirtualRouter
from proxyinit.mesh.translate.node import translate_node
from tests.mesh.mesh_golden import render
from tests.mesh.mesh_scenarios import EXAMPLES, MESH, SCENARIOS, base, scenario_resources


def dump_resources(models) -> list[dict]:
    """The inverse of parse_resources for the GA shape (preview shapes come back normalised)."""
    return [resource.to_api() for model in models for resource in model.resources()]


def _renders(models) -> dict[str, str]:
    model = models[MESH]
    return {name: render(translate_node(model, NodeId(MESH, name))) for name in model.nodes}


def test_examples_load():
    for name in ("mesh.yaml", "route-blue-red.yaml", "preview-2018.json"):
        models = load_mesh_file(EXAMPLES / name)
        assert list(models) == [MESH]
        assert set(models[MESH].nodes) == {
            "colorgateway-vn",
            "colorteller-vn",
            "colorteller-blue-vn",
            "colorteller-red-vn",
        }


def test_blue_red_example_is_the_blue_red_scenario():
    assert yaml.safe_load((EXAMPLES / "route-blue-red.yaml").read_text()) == scenario_resources(
        "blue_red"
    )


def test_preview_shapes_translate_like_the_ga_shapes():
    assert _renders(load_mesh_file(EXAMPLES / "preview-2018.json")) == _renders(
        load_mesh_file(EXAMPLES / "mesh.yaml")
    )


def test_preview_node_is_normalised_to_the_ga_shape():
    node = VirtualNode.model_validate(json.loads((EXAMPLES / "preview-2018.json").read_text())[0])
    spec = node.to_api()["spec"]
    assert spec["serviceDiscovery"] == {
        "dns": {"hostname": "colorgateway.default.svc.cluster.local"}
    }
    assert spec["backends"] == [
        {"virtualService": {"virtualServiceName": "colorteller.default.svc.cluster.local"}}
    ]


def test_preview_router_gets_a_service_and_a_derived_listener():
    model = load_mesh_file(EXAMPLES / "preview-2018.json")[MESH]
    service = model.services["colorteller.default.svc.cluster.local"]
    assert service.spec.provider.virtual_router.virtual_router_name == "colorteller-vr"
    router = model.routers["colorteller-vr"]
    assert router.to_api()["spec"] == {
        "listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}]
    }
    raw = VirtualRouter.model_validate(
        {"meshName": MESH, "virtualRouterName": "r", "spec": {"serviceNames": ["a.b"]}}
    )
    assert "serviceNames" not in json.dumps(raw.to_api())


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_dump_then_parse_is_identity(scenario):
    models = parse_resources(scenario_resources(scenario))
    again = parse_resources(dump_resources(models.values()))
    assert dump_resources(again.values()) == dump_resources(models.values())


def test_undeclared_mesh_is_created_with_app_mesh_defaults():
    resources = [r for r in base() if set(r) != {"meshName", "spec"}]
    model = parse_resources(resources)[MESH]
    assert model.egress_filter == "DROP_ALL"


def test_resources_of_several_meshes_are_split_by_mesh():
    other = [dict(r, meshName="other") for r in base()]
    assert list(parse_resources(base() + other)) == [MESH, "other"]


def test_json_file_and_yaml_file_give_the_same_model(tmp_path):
    path = tmp_path / "mesh.json"
    path.write_text(json.dumps(base()))
    assert dump_resources(load_mesh_file(path).values()) == dump_resources(
        load_mesh_file(EXAMPLES / "mesh.yaml").values()
    )


def test_empty_file_is_refused_but_an_empty_list_is_no_mesh(tmp_path):
    """An empty file is what a non-atomic rewrite looks like halfway: never serve it."""
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        load_mesh_file(path)
    path.write_text("[]\n")
    assert load_mesh_file(path) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("meshName: default\n", "expected a list"),
        ("- [1, 2]\n", "resource [0]: expected a mapping"),
        ("- {meshName: default, spec: {egressFilter: {type: DROP_ALL}}\n", "not valid YAML"),
    ],
)
def test_bad_file_names_the_file_and_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_mesh_file(path)
    assert message in str(caught.value) and "bad.yaml" in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_mesh_file(tmp_path / "nope.yaml")
