"""The layering written in DEVELOPERS.md, checked from the imports themselves.

Every `import proxyinit...` counts, wherever it stands (module level, inside a function, under
`if TYPE_CHECKING:`): a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "proxyinit"

# Each part and what it may import besides itself (DEVELOPERS.md, "Layers").
BASE = {"errors", "records", "netaddr", "environ", "contract", "bounds"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "records": set(),
    "netaddr": set(),
    "environ": set(),
    "contract": {"errors", "records", "environ"},
    "bounds": {"errors", "contract"},
    "settings": BASE,
    "firewall": BASE | {"settings"},
    "xds": BASE,
    "mesh": set(),  # the package docstring only
    "mesh.model": BASE,
    "mesh.translate": BASE | {"mesh.model", "xds"},
    "mesh.runtime": BASE | {"xds"},
    "store": BASE | {"mesh.model"},
    "k8s": BASE | {"settings", "mesh.model"},
    "api": BASE | {"mesh.model", "store", "k8s"},
    "controlplane": BASE | {"xds", "mesh.model", "mesh.translate", "store", "api", "k8s"},
    "colorapp": BASE,
    "lab": BASE | {"settings", "firewall", "xds", "mesh.model", "mesh.translate", "mesh.runtime"},
}
TOP = {"cli", "__main__", "__init__"}  # wiring: may import anything


def part_of(module: str) -> str:
    """'proxyinit.mesh.model.build' -> 'mesh.model'; 'proxyinit.xds.server' -> 'xds'."""
    parts = module.split(".")[1:]
    if parts[:1] == ["mesh"] and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0] if parts else "__init__"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """proxyinit modules imported by the file (`from X import name` counts X and X.name)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("proxyinit")}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; write proxyinit.... in full")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("proxyinit"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in files} for name, path in files.items()}


def test_every_part_imports_only_what_developers_md_allows():
    wrong = []
    for module, imported in graph().items():
        part = part_of(module)
        if part in TOP:
            continue
        assert part in ALLOWED, f"{module}: part {part!r} is not in the layering: add it"
        for target in sorted(imported):
            other = part_of(target)
            if other != part and other not in ALLOWED[part]:
                wrong.append(f"{module} imports {target} ({part} -> {other})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    edges = graph()
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


def test_the_checker_sees_a_lazy_upward_import(tmp_path):
    """The check would fail: a function-level import is found like any other."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from proxyinit.controlplane.plane import ControlPlane\n")
    assert "proxyinit.controlplane.plane" in imports_of(source)
    assert part_of("proxyinit.controlplane.plane") not in ALLOWED["xds"]
