"""The App Mesh controller's v1beta2 resources as mesh input: names, references, membership,
backend groups, what is skipped and what is refused (pure: no server, no kernel)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from proxyinit.errors import ConfigError
from proxyinit.k8s.meshinput import load_mesh_file, read_input

DATA = Path(__file__).resolve().parents[1] / "data" / "k8s"
HOWTO = DATA / "howto-k8s.yaml"


def docs() -> list[dict]:
    return list(yaml.safe_load_all(HOWTO.read_text()))


def write(tmp_path: Path, objs: list[dict], name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(objs))
    return path


def named(objs: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def by_name(items: list[dict]) -> dict[str, dict]:
    keys = ("routeName", "virtualRouterName", "virtualServiceName", "virtualNodeName", "meshName")
    return {next(item[k] for k in keys if k in item): item for item in items}


def refused(tmp_path: Path, objs: list[dict]) -> str:
    with pytest.raises(ConfigError) as err:
        read_input(write(tmp_path, objs))
    return str(err.value)


def test_names_and_references_follow_the_controller():
    found = read_input(HOWTO)
    items = by_name(found.items)
    # awsName defaults: VirtualNode/VirtualRouter <name>_<namespace>; a given awsName wins.
    assert {"front_howto", "blue_howto", "red-vn", "color-router_howto"} <= set(items)
    assert items["color.howto.svc.cluster.local"]["spec"]["provider"] == {
        "virtualRouter": {"virtualRouterName": "color-router_howto"}
    }
    route = items["color-route"]
    assert route["virtualRouterName"] == "color-router_howto"
    assert route["spec"]["httpRoute"]["action"]["weightedTargets"] == [
        {"virtualNode": "blue_howto", "weight": 8},
        {"virtualNode": "red-vn", "weight": 2},
    ]
    # backendGroups expanded into backends; podSelector and the selector are not App Mesh fields.
    assert items["front_howto"]["spec"]["backends"] == [
        {"virtualService": {"virtualServiceName": "color.howto.svc.cluster.local"}}
    ]
    assert "podSelector" not in items["front_howto"]["spec"]
    assert items["howto-mesh"]["spec"] == {"egressFilter": {"type": "DROP_ALL"}}
    assert found.summary() == (
        "skipped 3 objects that are no App Mesh resource (Deployment 1, Namespace 1, Service 1)"
    )


def test_virtual_service_default_name_is_name_dot_namespace(tmp_path):
    objs = docs()
    del named(objs, "VirtualService", "color")["spec"]["awsName"]
    items = by_name(read_input(write(tmp_path, objs)).items)
    assert "color.howto" in items
    assert items["front_howto"]["spec"]["backends"][0]["virtualService"] == {
        "virtualServiceName": "color.howto"
    }


def test_a_directory_of_files_and_list_objects(tmp_path):
    objs = docs()
    write(tmp_path, objs[:3], "a.yaml")
    write(tmp_path, [{"apiVersion": "v1", "kind": "List", "items": objs[3:]}], "b.yml")
    (tmp_path / "notes.txt").write_text("not a manifest")
    assert read_input(tmp_path).items == read_input(HOWTO).items


def test_kubectl_get_output_keeps_its_mesh_ref(tmp_path):
    objs = docs()
    other = {**named(objs, "Mesh", "howto-mesh"), "metadata": {"name": "other"}}
    other = {**other, "spec": {"awsName": "other-mesh", "namespaceSelector": {}}}
    for obj in objs:
        if obj["kind"] in ("VirtualNode", "VirtualService", "VirtualRouter", "BackendGroup"):
            obj["spec"]["meshRef"] = {"name": "other", "uid": "1234"}
    items = read_input(write(tmp_path, [*objs, other])).items
    assert {i["meshName"] for i in items if "virtualNodeName" in i} == {"other-mesh"}


def test_membership_by_namespace_selector(tmp_path):
    objs = docs()
    selector = {"matchExpressions": [{"key": "mesh", "operator": "In", "values": ["second"]}]}
    second = {
        "apiVersion": "appmesh.k8s.aws/v1beta2",
        "kind": "Mesh",
        "metadata": {"name": "second"},
        "spec": {"namespaceSelector": selector},
    }
    assert {i["meshName"] for i in read_input(write(tmp_path, [*objs, second])).items} == {
        "howto-mesh",
        "second",
    }
    named(objs, "Namespace", "howto")["metadata"]["labels"] = {"mesh": "none"}
    message = refused(tmp_path, [*objs, second])
    assert "VirtualNode 'howto/front': metadata.namespace" in message and "found 0" in message


def test_backend_groups_by_name_and_star(tmp_path):
    objs = docs()
    extra = {
        "apiVersion": "appmesh.k8s.aws/v1beta2",
        "kind": "VirtualService",
        "metadata": {"name": "aaa", "namespace": "howto"},
        "spec": {"provider": {"virtualNode": {"virtualNodeRef": {"name": "blue"}}}},
    }
    named(objs, "VirtualNode", "front")["spec"]["backendGroups"] = [{"name": "*"}]
    items = by_name(read_input(write(tmp_path, [*objs, extra])).items)
    assert [
        b["virtualService"]["virtualServiceName"] for b in items["front_howto"]["spec"]["backends"]
    ] == [
        "aaa.howto",
        "color.howto.svc.cluster.local",
    ]


def test_references_by_arn(tmp_path):
    objs = docs()
    arn = "arn:aws:appmesh:us-west-2:111122223333:mesh/howto-mesh/virtualRouter/color-router_howto"
    named(objs, "VirtualService", "color")["spec"]["provider"] = {
        "virtualRouter": {"virtualRouterARN": arn}
    }
    items = by_name(read_input(write(tmp_path, objs)).items)
    assert items["color.howto.svc.cluster.local"]["spec"]["provider"]["virtualRouter"] == {
        "virtualRouterName": "color-router_howto"
    }


def test_v1beta1_is_refused_saying_which_version(tmp_path):
    objs = docs()
    named(objs, "VirtualNode", "blue")["apiVersion"] = "appmesh.k8s.aws/v1beta1"
    message = refused(tmp_path, objs)
    assert "VirtualNode 'howto/blue': apiVersion: convert it to appmesh.k8s.aws/v1beta2" in message


def test_a_gateway_without_listeners_is_refused_naming_the_field(tmp_path):
    # Gateways are translated (tests/k8s/test_k8s_gateways.py), never dropped.
    gateway = {
        "apiVersion": "appmesh.k8s.aws/v1beta2",
        "kind": "VirtualGateway",
        "metadata": {"name": "ingress-gw", "namespace": "howto"},
        "spec": {},
    }
    assert "VirtualGateway 'howto/ingress-gw': spec.listeners: Field required" in refused(
        tmp_path, [*docs(), gateway]
    )


def test_a_bad_object_is_named_with_its_field_and_value(tmp_path):
    objs = docs()
    named(objs, "VirtualNode", "blue")["spec"]["listeners"][0]["portMapping"]["port"] = 70000
    message = refused(tmp_path, objs)
    assert message.startswith("VirtualNode 'howto/blue': spec.listeners[0].portMapping.port")
    assert "70000" in message


def test_a_missing_reference_is_named(tmp_path):
    objs = docs()
    target = named(objs, "VirtualRouter", "color-router")["spec"]["routes"][0]["httpRoute"]
    target["action"]["weightedTargets"][1]["virtualNodeRef"] = {"name": "green"}
    message = refused(tmp_path, objs)
    assert "VirtualRouter 'howto/color-router': spec.routes[0].httpRoute.action" in message
    assert "no VirtualNode howto/green in the input" in message


def test_a_cross_resource_error_names_the_object(tmp_path):
    objs = docs()
    route = named(objs, "VirtualRouter", "color-router")["spec"]["routes"][0]["httpRoute"]
    route["action"]["weightedTargets"][0]["port"] = 9999
    message = refused(tmp_path, objs)
    assert "VirtualRouter 'howto/color-router'" in message and "9999" in message


def test_a_non_manifest_document_is_refused(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(HOWTO.read_text() + "\n---\njust: a mapping\n")
    with pytest.raises(ConfigError, match="document 11 is no Kubernetes object"):
        read_input(path)


def test_the_control_plane_reads_manifests_as_its_mesh_file(tmp_path):
    models = load_mesh_file(HOWTO)
    assert sorted(models["howto-mesh"].nodes) == ["blue_howto", "front_howto", "red-vn"]
    empty = tmp_path / "empty.yaml"
    empty.write_text("---\n---\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_mesh_file(empty)


def test_an_inline_route_error_names_its_place_in_the_router(tmp_path):
    objs = docs()
    route = named(objs, "VirtualRouter", "color-router")["spec"]["routes"][0]["httpRoute"]
    route["action"]["weightedTargets"][0]["weight"] = 800
    message = refused(tmp_path, objs)
    assert message.startswith(
        "VirtualRouter 'howto/color-router': spec.routes[0].httpRoute.action.weightedTargets[0].weight"
    ), message
    assert "800" in message


def test_the_watched_mesh_file_takes_manifest_edits_and_refuses_bad_ones(tmp_path, caplog):
    from proxyinit.controlplane.meshfile_source import FileMeshSource

    path = write(tmp_path, docs())
    source = FileMeshSource(path)
    assert set(source.load()) == {"howto-mesh"}
    objs = docs()
    named(objs, "VirtualNode", "red")["spec"]["listeners"][0]["portMapping"]["port"] = 0
    path.write_text(yaml.safe_dump_all(objs))
    assert source.poll() is None
    assert "VirtualNode 'howto/red': spec.listeners[0].portMapping.port" in caplog.text
    objs = docs()
    route = named(objs, "VirtualRouter", "color-router")["spec"]["routes"][0]["httpRoute"]
    route["action"]["weightedTargets"][0]["weight"] = 5
    path.write_text(yaml.safe_dump_all(objs))
    meshes = source.poll()
    targets = meshes["howto-mesh"].routes["color-router_howto"][0].spec.http_route.action
    assert [t.weight for t in targets.weighted_targets] == [5, 2]


def test_a_directory_may_mix_mesh_files_and_manifests(tmp_path):
    write(tmp_path, docs(), "a.yaml")
    extra = [{"meshName": "howto-mesh", "virtualNodeName": "legacy-vn", "spec": {}}]
    (tmp_path / "b.json").write_text(__import__("json").dumps(extra))
    names = by_name(read_input(tmp_path).items)
    assert "legacy-vn" in names and "front_howto" in names


def test_a_spec_that_is_no_mapping_is_refused(tmp_path):
    objs = docs()
    named(objs, "VirtualService", "color")["spec"] = ["provider"]
    assert "VirtualService 'howto/color': spec: expected a mapping" in refused(tmp_path, objs)


def test_manifests_are_bounded_like_mesh_files(tmp_path):
    # An alias bomb in a later document is measured over the whole stream, before anything is built.
    bomb = ["---", "apiVersion: v1", "kind: ConfigMap", "data:", "  x0: &a0 [lol, lol]"]
    bomb += [f"  x{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    path = tmp_path / "bomb.yaml"
    path.write_text(HOWTO.read_text() + "\n".join(bomb) + "\n")
    with pytest.raises(ConfigError, match="alias bomb"):
        read_input(path)
    big = tmp_path / "dir"
    big.mkdir()
    for name in ("a.yaml", "b.yaml"):
        (big / name).write_text("# " + "x" * (5 * 1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match="more than 8 MiB of manifests in all"):
        read_input(big)
