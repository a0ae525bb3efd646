"""`xds serve --mesh-file DIR`: every manifest file of the directory, read as `mesh apply -f DIR`
reads them (name order, mesh files and manifests mixed, 8 MiB in all), and watched: an edit, a
new file or a removed one is a change; an empty file (a rewrite caught halfway) is refused."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.errors import ConfigError
from proxyinit.k8s.meshinput import read_input
from proxyinit.mesh.model.meshfile import parse_resources
from tests.k8s.test_k8s_meshinput import docs, named, write
from tests.support.serve import ready_ports, run, serve_command

pytestmark = pytest.mark.timeout(30)


def legacy_node(name: str) -> str:
    return json.dumps([{"meshName": "howto-mesh", "virtualNodeName": name, "spec": {}}])


def mesh_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "mesh"
    folder.mkdir()
    write(folder, docs(), "a.yaml")
    (folder / "b.json").write_text(legacy_node("legacy-vn"))
    (folder / "notes.txt").write_text("not a manifest: skipped, as kubectl skips it\n")
    return folder


def test_a_mesh_directory_serves_what_mesh_apply_would_store(tmp_path):
    folder = mesh_dir(tmp_path)
    meshes = FileMeshSource(folder).load()
    assert meshes == parse_resources(read_input(folder).items)
    assert {"legacy-vn", "front_howto"} <= set(meshes["howto-mesh"].nodes)


def test_a_watched_mesh_directory_takes_edits_new_and_removed_files(tmp_path, caplog):
    folder = mesh_dir(tmp_path)
    source = FileMeshSource(folder)
    source.load()
    (folder / "c.json").write_text(legacy_node("added-vn"))  # a new file
    assert "added-vn" in source.poll()["howto-mesh"].nodes
    (folder / "d.yaml").write_text("")  # a rewrite caught halfway: never served
    assert source.poll() is None
    assert "d.yaml' is empty" in caplog.text
    (folder / "d.yaml").unlink()
    assert "added-vn" in source.poll()["howto-mesh"].nodes
    objs = docs()  # an edit in place
    route = named(objs, "VirtualRouter", "color-router")["spec"]["routes"][0]["httpRoute"]
    route["action"]["weightedTargets"][0]["weight"] = 5
    write(folder, objs, "a.yaml")
    meshes = source.poll()
    targets = meshes["howto-mesh"].routes["color-router_howto"][0].spec.http_route.action
    assert [t.weight for t in targets.weighted_targets] == [5, 2]
    os.unlink(folder / "c.json")
    assert "added-vn" not in source.poll()["howto-mesh"].nodes
    assert source.poll() is None  # nothing changed since


def test_a_bad_object_in_a_mesh_directory_is_refused_naming_it(tmp_path):
    folder = mesh_dir(tmp_path)
    objs = docs()
    named(objs, "VirtualNode", "red")["spec"]["listeners"][0]["portMapping"]["port"] = 0
    write(folder, objs, "a.yaml")
    with pytest.raises(ConfigError, match=re.escape("VirtualNode 'howto/red': spec.listeners")):
        FileMeshSource(folder).load()
    for name in os.listdir(folder):
        os.unlink(folder / name)
    with pytest.raises(ConfigError, match=re.escape("has no .yaml, .yml or .json file")):
        FileMeshSource(folder).load()


def test_xds_serve_takes_a_mesh_directory(tmp_path):
    """The command itself: a directory starts serving (it was refused as no regular file); one
    without a manifest file is a configuration error naming it."""
    folder = mesh_dir(tmp_path)
    process = subprocess.Popen(
        serve_command("--xds", "127.0.0.1:0", mesh_file=folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("ready"), process.stderr.read()
        assert "xds" in ready_ports(line)
    finally:
        process.terminate()
        process.communicate(timeout=20)
    assert process.returncode == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run(serve_command("--xds", "127.0.0.1:0", mesh_file=empty))
    assert done.returncode == 2 and f"directory {str(empty)!r} has no .yaml" in done.stderr
