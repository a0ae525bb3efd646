"""What `python -m proxyinit` (the init container's command) imports, from -X importtime."""

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
    }
)


def imported_modules(argv_prefix: list[str], env: dict[str, str]) -> tuple[set[str], str]:
    """Modules imported by `argv_prefix + [python -X importtime -m proxyinit]`; and stderr."""
    argv = [*argv_prefix, sys.executable, "-X", "importtime", "-m", "proxyinit"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert proc.returncode == 0, proc.stderr
    return names, proc.stderr


def command_imports(argv_prefix: list[str], env: dict[str, str]) -> tuple[set[str], str]:
    """As imported_modules, for the installed `proxyinit` command (the image's ENTRYPOINT:
    scripts/proxyinit, `-S`, no runpy)."""
    command = str(Path(sys.executable).with_name("proxyinit"))
    env = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(
        [*argv_prefix, command], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}
    return names, proc.stderr


def heavy(names: set[str]) -> set[str]:
    return {name for name in names if name.split(".")[0] in NOT_ON_THE_INIT_PATH}


# `collections` (~2.4 ms) is still imported for ipaddress (through functools) until settings
# parses addresses without it; no other importer may appear. Then `collections` and `functools`
# join NOT_ON_THE_INIT_PATH, and this goes.
COLLECTIONS_ONLY_FOR = "ipaddress"


def importers(stderr: str, top: str) -> list[list[str]]:
    """Each module of package `top` in an -X importtime tree with what imported it, innermost
    first. The tree prints a module after the modules it imports, each level two spaces
    deeper; a module is in it once, where it was first imported."""
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            field = line.rsplit("|", 1)[1]
            name = field.strip()
            if name != "imported package":
                rows.append(((len(field) - len(field.lstrip()) - 1) // 2, name))
    chains = []
    for index, (depth, name) in enumerate(rows):
        if name.split(".")[0] == top:
            chain = [name]
            for later_depth, later in rows[index + 1 :]:
                if later_depth < depth:
                    chain.append(later)
                    depth = later_depth
            chains.append(chain)
    return chains


def collections_importers(stderr: str) -> list[list[str]]:
    """Who imported collections, when it was not for ipaddress (see COLLECTIONS_ONLY_FOR)."""
    return [
        chain for chain in importers(stderr, "collections") if COLLECTIONS_ONLY_FOR not in chain
    ]


def runtime_imports(module: str) -> set[str]:
    """What `module`'s source imports when run: module level and function bodies, not the
    `if TYPE_CHECKING:` blocks. Catches the imports the tree does not show (a module already
    imported by someone else is not printed again)."""
    path = importlib.util.find_spec(module).origin
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        test = getattr(node, "test", None)  # `if TYPE_CHECKING:`, `if records.TYPE_CHECKING:`
        if isinstance(node, ast.If) and "TYPE_CHECKING" in (
            getattr(test, "id", ""),
            getattr(test, "attr", ""),
        ):
            nodes = node.orelse
        else:
            nodes = list(ast.iter_child_nodes(node))
        for child in nodes:
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and not child.level:
                found.add(child.module or "")
            visit(child)

    with open(path, encoding="utf-8") as source:
        visit(ast.parse(source.read(), path))
    return found


def importing(names: set[str], top: str) -> set[str]:
    """Our modules among `names` whose source imports package `top` at run time."""
    return {
        name
        for name in names
        if name.split(".")[0] == "proxyinit"
        and any(m.split(".")[0] == top for m in runtime_imports(name))
    }
