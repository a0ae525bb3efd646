"""What the init container's command imports, from -X importtime: `python -m proxyinit` or
the installed `proxyinit` script, and who imported what (the tree's nesting)."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

# Heavy or needless on the init container's path (each costs ms of every task start): the
# control plane's libraries, python-iptables, and stdlib modules the path does without.
NOT_ON_THE_INIT_PATH = frozenset(
    {
        "pydantic",
        "grpc",
        "iptc",
        "yaml",
        "typing",
        "enum",  # records.Enum
        "subprocess",  # backends/spawn.py: os.fork + os.execv
        "threading",
        "re",
        "ctypes",  # pdeath.py calls prctl through _ctypes (not ctypes: ~2 ms)
        "collections",  # ~2.4 ms: records.py builds namedtuples itself, planner counts in a dict
        "ipaddress",  # ~2 ms with functools: settings' networks are netaddr.py's
        "functools",  # (ipaddress's way to collections; netaddr.py does without ipaddress)
        "json",
        "dataclasses",
        "argparse",
        "logging",
        "socket",
        "inspect",
        "asyncio",
        "shutil",
        "tempfile",
        "pathlib",
        "datetime",
        "difflib",
        "os",  # ~0.9 ms (_collections_abc, stat, posixpath): posix and proxyinit/environ.py
    }
)


def import_tree(stderr: str) -> dict[str, list[str]]:
    """Each module of an -X importtime tree -> what imported it, innermost first ([]: the
    top). The tree prints a module after those it imports, each level two spaces deeper; a
    module is in it once, where it was first imported."""
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            field = line.rsplit("|", 1)[1]
            if field.strip() != "imported package":
                rows.append(((len(field) - len(field.lstrip()) - 1) // 2, field.strip()))
    tree: dict[str, list[str]] = {}
    for index, (depth, name) in enumerate(rows):
        tree[name] = chain = []
        for later_depth, later in rows[index + 1 :]:
            if later_depth < depth:
                chain.append(later)
                depth = later_depth
    return tree


def modules(stderr: str) -> set[str]:
    """The tree's modules, less what runpy (`python -m`) and `site` import for themselves:
    contextlib, collections and os are not the init container's, whose command is a plain
    script run without `site` (-S)."""
    return {
        name
        for name, chain in import_tree(stderr).items()
        if "runpy" not in chain and "site" not in chain
    }


def importers(stderr: str, names: set[str]) -> dict[str, list[str]]:
    """Who imported each of `names` (for assertion messages)."""
    tree = import_tree(stderr)
    return {name: tree.get(name, []) for name in sorted(names)}


def imported_modules(argv_prefix: list[str], env: dict[str, str]) -> tuple[set[str], str]:
    """Modules imported by `argv_prefix + [python -X importtime -m proxyinit]`; and stderr."""
    argv = [*argv_prefix, sys.executable, "-X", "importtime", "-m", "proxyinit"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return modules(proc.stderr), proc.stderr


def command_imports(argv_prefix: list[str], env: dict[str, str]) -> tuple[set[str], str]:
    """As imported_modules, for the installed `proxyinit` command (the image's ENTRYPOINT:
    scripts/proxyinit, `-S`, no runpy)."""
    command = str(Path(sys.executable).with_name("proxyinit"))
    env = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(
        [*argv_prefix, command], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return modules(proc.stderr), proc.stderr


def heavy(names: set[str]) -> set[str]:
    return {name for name in names if name.split(".")[0] in NOT_ON_THE_INIT_PATH}


def runtime_imports(module: str) -> set[str]:
    """What `module`'s source imports when run: module level and function bodies, not the
    `if TYPE_CHECKING:` blocks. Catches what the tree does not show: a module someone else
    imported first is not printed again."""
    path = importlib.util.find_spec(module).origin
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        test = getattr(node, "test", None)  # `if TYPE_CHECKING:`, `if records.TYPE_CHECKING:`
        checking = "TYPE_CHECKING" in (getattr(test, "id", ""), getattr(test, "attr", ""))
        for child in (
            node.orelse if isinstance(node, ast.If) and checking else ast.iter_child_nodes(node)
        ):
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and not child.level:
                found.add(child.module or "")
            visit(child)

    with open(path, encoding="utf-8") as source:
        visit(ast.parse(source.read(), path))
    return found


def importing(names: set[str], tops: set[str]) -> set[str]:
    """Our modules among `names` whose source imports one of the packages `tops` when run."""
    return {
        name
        for name in names
        if name.split(".")[0] == "proxyinit"
        and any(m.split(".")[0] in tops for m in runtime_imports(name))
    }
