"""Hostile mesh files: a YAML alias bomb, deep nesting, a huge file, a FIFO. Each is refused
with a message naming the file and the bound, before anything is built; the watcher keeps the
last good mesh. (Before: the alias bomb took 2.6 GB in 40 s and the control plane stopped
answering, through the error message calling repr() on the expanded value.)"""

from __future__ import annotations

import os
import re
import shutil

import pytest

from proxyinit.bounds import MAX_ALIASES, MAX_DEPTH, MAX_MESH_FILE_BYTES
from proxyinit.contract import echo
from proxyinit.controlplane import meshfile_source
from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.meshfile import load_mesh_file, parse_resources
from tests.mesh.mesh_scenarios import EXAMPLES, scenario_resources

pytestmark = pytest.mark.timeout(30)  # the unfixed loader never returns on these


def alias_bomb(levels: int = 12, width: int = 10) -> str:
    """A few hundred bytes; width**levels values once every alias is expanded."""
    lines = ["- meshName: m", "  virtualNodeName: n", "  spec:", "    x0: &a0 [lol, lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"    x{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_built(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    with pytest.raises(ConfigError, match="once YAML aliases are expanded") as info:
        load_mesh_file(path)
    assert str(path) in str(info.value)


def test_an_alias_bomb_as_a_resource_name_is_refused(tmp_path):
    """Names are echoed in messages: the bomb in virtualNodeName must not be rendered."""
    text = alias_bomb().replace("  virtualNodeName: n\n", "") + "  virtualNodeName: *a12\n"
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="aliases"):
        load_mesh_file(path)


def test_too_many_aliases_are_refused(tmp_path):
    items = "".join("  - *p\n" for _ in range(MAX_ALIASES + 1))
    path = tmp_path / "aliases.yaml"
    path.write_text(f"- meshName: m\n  spec: {{}}\n  x: &p 1\n  y:\n{items}")
    with pytest.raises(ConfigError, match=f"more than {MAX_ALIASES} YAML aliases"):
        load_mesh_file(path)


def test_deep_nesting_is_refused(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 200 + "]" * 200)  # libyaml itself stops at 1,000
    with pytest.raises(ConfigError, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_mesh_file(path)


def test_a_file_over_the_size_bound_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as handle:
        handle.truncate(MAX_MESH_FILE_BYTES + 1)
    with pytest.raises(ConfigError, match="larger than 8388608 bytes"):
        load_mesh_file(path)


def test_a_fifo_or_device_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "mesh.fifo"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        with pytest.raises(ConfigError, match="not a regular file"):
            load_mesh_file(path)


def test_a_huge_integer_is_a_config_error(tmp_path):
    path = tmp_path / "int.yaml"
    path.write_text("- meshName: m\n  spec: {x: " + "9" * 5000 + "}\n")
    with pytest.raises(ConfigError, match="not valid YAML/JSON"):
        load_mesh_file(path)


def test_echo_never_renders_a_whole_shared_structure():
    value: list = ["lol"]
    for _ in range(40):  # 10**40 leaves as a tree, 41 lists in memory
        value = [value] * 10
    text = echo(value)
    assert len(text) <= 100 and text.startswith("[[[")
    assert echo(10**10_000).startswith("<integer of")
    assert echo({"a": [1, 2]}) == "{'a': [1, 2]}"  # small values read as repr() does


def test_the_watcher_keeps_the_last_good_mesh_after_a_bomb(tmp_path, caplog):
    mesh_file = tmp_path / "mesh.yaml"
    shutil.copy(EXAMPLES / "mesh.yaml", mesh_file)
    source = FileMeshSource(mesh_file)
    assert set(source.load()) == {"default"}
    mesh_file.write_text(alias_bomb())
    assert source.poll() is None
    assert "the last good mesh keeps serving" in caplog.text and "aliases" in caplog.text
    mesh_file.unlink()
    os.mkfifo(mesh_file)  # a FIFO in its place: refused, never opened for a blocking read
    assert source.poll() is None
    shutil.copy(EXAMPLES / "route-blue-red.yaml", tmp_path / "next.yaml")
    os.replace(tmp_path / "next.yaml", mesh_file)
    meshes = source.poll()
    assert meshes is not None and "colorteller-blue-vn" in meshes["default"].nodes


def test_the_watcher_serves_the_bytes_it_hashed(tmp_path, monkeypatch):
    """A file renamed into place between the watcher's hash and its load: the meshes yielded are
    the hashed content's (they were the new file's, remembered under the old content's hash)."""
    mesh_file = tmp_path / "mesh.yaml"
    shutil.copy(EXAMPLES / "mesh.yaml", mesh_file)
    source = FileMeshSource(mesh_file)
    source.load()
    real_loader = meshfile_source.load_mesh_file

    def racing_loader(*args):
        shutil.copy(EXAMPLES / "mesh.yaml", tmp_path / "next.yaml")  # another writer, just now
        os.replace(tmp_path / "next.yaml", mesh_file)
        return real_loader(*args)

    shutil.copy(EXAMPLES / "route-blue-red.yaml", mesh_file)
    monkeypatch.setattr(meshfile_source, "load_mesh_file", racing_loader)
    assert source.poll() == load_mesh_file(EXAMPLES / "route-blue-red.yaml")
    monkeypatch.undo()
    # The other writer's file is a change of its own.
    assert source.poll() == load_mesh_file(EXAMPLES / "mesh.yaml")


def mesh_with(**fields) -> list[dict]:
    return [{"meshName": "m", **fields}]


@pytest.mark.parametrize(
    "fields, where",
    [
        ({"clientToken": "x" * 37}, "clientToken"),
        ({"clientToken": "a b"}, "clientToken"),
        ({"meshOwner": "1" * 13}, "meshOwner"),
        ({"tags": [{"key": "k" * 129}]}, "tags[0].key"),
        ({"tags": [{"key": "k", "value": "v" * 257}]}, "tags[0].value"),
        ({"tags": [{"key": f"k{i}"} for i in range(51)]}, "tags"),
    ],
)
def test_the_create_input_extras_of_a_mesh_file_are_bounded(fields, where):
    """clientToken, meshOwner and tags are stored by `mesh apply`: bounded as the API bounds them."""
    with pytest.raises(ConfigError, match=re.escape(where)):
        parse_resources(mesh_with(**fields))


@pytest.mark.parametrize("weight", [True, "5", 5.0])
def test_a_mesh_file_weight_must_be_an_integer(weight):
    """YAML `weight: "5"` or `weight: true` was taken as 5 or 1; App Mesh refused both."""
    items = scenario_resources("blue_red")
    route = next(item for item in items if "routeName" in item)
    route["spec"]["httpRoute"]["action"]["weightedTargets"][0]["weight"] = weight
    with pytest.raises(
        ConfigError, match=r"weightedTargets\[0\]\.weight: Input should be a valid integer"
    ):
        parse_resources(items)
