"""Mesh input for `mesh apply -f FILE|DIR` and `xds serve --mesh-file`: a create-* list (the mesh
file) or Kubernetes manifests carrying the App Mesh controller's resources, in any mix per file.

Translated resources are validated as the API validates them, and a bad one is refused naming
the Kubernetes object (`Kind namespace/name`), the field and the value; nothing of the input is
applied (the caller applies the whole list in one transaction).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from proxyinit.bounds import mesh_file_text, read_mesh_file
from proxyinit.errors import ConfigError
from proxyinit.k8s.appmesh import Translation, translate
from proxyinit.k8s.manifests import Obj, documents, is_manifest, objects, read_paths
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.model.meshfile import parse_resource, parse_resources
from proxyinit.mesh.model.problems import where


@dataclass
class MeshInput:
    items: list = field(default_factory=list)  # create-* inputs
    skipped: Counter = field(default_factory=Counter)  # kind -> objects that are no App Mesh kind

    def summary(self) -> str:
        """One line on what was skipped, or "" (kubectl users expect every object accounted for)."""
        if not self.skipped:
            return ""
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.skipped.items()))
        return (
            f"skipped {sum(self.skipped.values())} objects that are no App Mesh resource ({kinds})"
        )


def read_input(path: str | Path) -> MeshInput:
    """FILE or DIR -> create-* items; ConfigError naming the file, or the object, field, value."""
    raw, objs = _collect(read_paths(path))
    if not objs:
        return MeshInput(raw)
    translation = translate(objs)
    check(translation)
    return MeshInput(raw + translation.items, translation.skipped)


def _collect(texts: list[tuple[str, str]], refuse_empty: bool = False) -> tuple[list, list[Obj]]:
    """[(source, text)] -> (create-* items, manifest objects), each file one or the other."""
    raw: list = []
    objs: list[Obj] = []
    for source, text in texts:
        docs = documents(source, text)
        if refuse_empty and not docs:
            # What a reader sees in the middle of a non-atomic rewrite: never served, as in
            # load_mesh_file.
            raise ConfigError(f"mesh file {source!r} is empty (write [] to serve no meshes)")
        if len(docs) == 1 and not is_manifest(docs[0]):
            if not isinstance(docs[0], list):
                raise ConfigError(
                    f"file {source!r}: expected a list of App Mesh resources or Kubernetes "
                    f"manifests, got {type(docs[0]).__name__}"
                )
            raw += docs[0]
        else:
            objs += objects(source, docs)
    return raw, objs


def check(translation: Translation) -> dict[str, MeshModel]:
    """Validate translated items one by one (an error names the object), then together."""
    for item, obj, at in zip(
        translation.items, translation.sources, translation.spec_paths, strict=True
    ):
        try:
            parse_resource(item)
        except ConfigError as err:
            # An inline route's `spec.httpRoute...` is `spec.routes[i].httpRoute...` in its router.
            parts = _strip_where(str(err)).split("; ")
            text = "; ".join(
                at + p.removeprefix("spec.") if p.startswith("spec.") else p for p in parts
            )
            raise ConfigError(f"{_ident(obj)}: {text}") from None
    try:
        return parse_resources(translation.items)
    except ConfigError as err:
        raise ConfigError(_name_objects(str(err), translation)) from None


def load_mesh_file(path: str | Path, data: bytes | None = None) -> dict[str, MeshModel]:
    """`xds serve --mesh-file`: the mesh file or manifests -> {mesh name: MeshModel}. `data`:
    the file's bytes when the caller has read them already (errors still name `path`)."""
    name = f"mesh file {str(path)!r}"
    text = read_mesh_file(path) if data is None else mesh_file_text(path, data)
    docs = documents(str(path), text, "mesh file")
    if not docs:
        # An empty file is what a reader sees in the middle of a non-atomic rewrite; serving it
        # would drop every node's config. "No meshes" must be said explicitly: `[]`.
        raise ConfigError(f"{name} is empty (write [] to serve no meshes)")
    try:
        if len(docs) == 1 and not is_manifest(docs[0]):
            return parse_resources(docs[0])
        return check(translate(objects(str(path), docs)))
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def load_mesh_dir(
    path: str | Path, texts: list[tuple[str, str]] | None = None
) -> dict[str, MeshModel]:
    """`xds serve --mesh-file DIR`: the directory's files, read as `mesh apply -f DIR` reads them
    ([(source, text)] from `read_paths` when the caller has them), -> {mesh name: MeshModel}."""
    raw, objs = _collect(read_paths(path) if texts is None else texts, refuse_empty=True)
    try:
        return _models(raw, objs)
    except ConfigError as exc:
        raise ConfigError(f"mesh directory {str(path)!r}: {exc}") from None


def _models(raw: list, objs: list[Obj]) -> dict[str, MeshModel]:
    if not objs:
        return parse_resources(raw)
    translation = translate(objs)
    models = check(translation)
    if not raw:
        return models
    try:  # mesh files and manifests together: an error names the object a resource came from
        return parse_resources(raw + translation.items)
    except ConfigError as err:
        raise ConfigError(_name_objects(str(err), translation)) from None


def _ident(obj: Obj) -> str:
    return obj.ident(obj.kind != "Mesh")


def _strip_where(message: str) -> str:
    # "VirtualNode 'a_b' (mesh 'm'): spec...: why" -> "spec...: why": the object names itself.
    head, sep, rest = message.partition("): ")
    return rest if sep and " (mesh " in head else message.partition(": ")[2] or message


def _name_objects(message: str, translation: Translation) -> str:
    """Cross-resource errors name App Mesh resources: add the object each came from."""
    for (kind, mesh, name), obj in translation.origins.items():
        for text in (where(kind, name, mesh), where(kind, name)):
            if text in message:
                return message.replace(text, f"{_ident(obj)} ({text})", 1)
    return message
