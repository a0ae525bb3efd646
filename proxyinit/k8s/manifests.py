"""Kubernetes manifests: files or a directory of them, multi-document YAML, `List` objects.

The same bounds as a mesh file apply to each file and to their total (8 MiB), so a directory
cannot be used to get around them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from proxyinit.bounds import MAX_MESH_FILE_BYTES, load_yaml_documents, read_mesh_file
from proxyinit.contract import echo
from proxyinit.errors import ConfigError

# kubectl apply -f DIR reads these (not recursively without -R).
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Obj:
    """One Kubernetes object of the input, with where it came from."""

    body: dict
    source: str

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def meta(self) -> dict:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.meta.get("name", ""))

    @property
    def namespace(self) -> str:
        # kubectl puts an object without a namespace in the context's, usually "default".
        return str(self.meta.get("namespace") or "default")

    @property
    def spec(self) -> dict:
        spec = self.body.get("spec")
        return spec if isinstance(spec, dict) else {}

    def ident(self, namespaced: bool = True) -> str:
        where = f"{self.namespace}/{self.name}" if namespaced else self.name
        return f"{self.kind} {echo(where, 120)}"


def is_manifest(doc: Any) -> bool:
    return isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc


def read_paths(path: str | Path) -> list[tuple[str, str]]:
    """[(source name, text)] of a file, or of a directory's manifest files in name order."""
    path = Path(path)
    if not path.is_dir():
        return [(str(path), read_mesh_file(path))]
    texts, total = [], 0
    for file in manifest_files(path):
        text = read_mesh_file(file)
        total += len(text)
        if total > MAX_MESH_FILE_BYTES:
            raise ConfigError(f"directory {str(path)!r}: more than 8 MiB of manifests in all")
        texts.append((str(file), text))
    return texts


def manifest_files(path: Path) -> list[Path]:
    """The manifest files of a directory, in name order; ConfigError if it has none."""
    files = sorted(p for p in path.iterdir() if p.suffix in MANIFEST_SUFFIXES and p.is_file())
    if not files:
        raise ConfigError(f"directory {str(path)!r} has no .yaml, .yml or .json file")
    return files


def documents(source: str, text: str, label: str = "file") -> list[Any]:
    """The non-empty documents of one file (an empty `---` section is no object)."""
    return [d for d in load_yaml_documents(text, f"{label} {source!r}") if d is not None]


def objects(source: str, docs: list[Any]) -> list[Obj]:
    """Manifest documents -> objects, `List` (and `*List`) items flattened, as kubectl does."""
    out: list[Obj] = []
    for index, doc in enumerate(docs):
        if not is_manifest(doc):
            raise ConfigError(
                f"file {source!r}: document {index + 1} is no Kubernetes object "
                f"(apiVersion and kind are required): {echo(doc, 80)}"
            )
        if str(doc["kind"]).endswith("List") and "items" in doc:
            items = doc["items"]
            if not isinstance(items, list):
                raise ConfigError(f"file {source!r}: {doc['kind']}.items: expected a list")
            out += objects(source, items)
        else:
            out.append(Obj(doc, source))
    return out


def selector_matches(selector: Any, labels: dict, field: str) -> bool:
    """metav1.LabelSelector semantics: absent (None) selects nothing, `{}` selects everything."""
    if selector is None:
        return False
    if not isinstance(selector, dict):
        raise ValueError(f"{field}: expected a label selector mapping")
    match = selector.get("matchLabels") or {}
    if not isinstance(match, dict):
        raise ValueError(f"{field}.matchLabels: expected a mapping")
    if any(labels.get(k) != str(v) for k, v in match.items()):
        return False
    for index, expr in enumerate(selector.get("matchExpressions") or ()):
        if not _expression_matches(expr, labels, f"{field}.matchExpressions[{index}]"):
            return False
    return True


def _expression_matches(expr: Any, labels: dict, field: str) -> bool:
    if not isinstance(expr, dict) or "key" not in expr or "operator" not in expr:
        raise ValueError(f"{field}: expected key and operator")
    key, op, values = expr["key"], expr["operator"], [str(v) for v in expr.get("values") or ()]
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    raise ValueError(f"{field}.operator: unknown operator {echo(op)}")


def read_objects(path: str, stdin: TextIO | None = None) -> list[Obj]:
    """The objects of FILE, DIR or `-` (stdin, bounded like a file)."""
    if path == "-":
        text = (stdin or sys.stdin).read(MAX_MESH_FILE_BYTES + 1)
        if len(text) > MAX_MESH_FILE_BYTES:
            raise ConfigError("standard input: larger than 8 MiB")
        return objects("-", documents("-", text, "standard input"))
    return [
        obj for source, text in read_paths(path) for obj in objects(source, documents(source, text))
    ]
