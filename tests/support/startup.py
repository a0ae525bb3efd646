"""What `python -m proxyinit` (the init container's command) imports, from -X importtime."""

from __future__ import annotations

import subprocess
import sys

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
        "ctypes",  # pdeath.py calls prctl through _ctypes
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


def heavy(names: set[str]) -> set[str]:
    return {name for name in names if name.split(".")[0] in NOT_ON_THE_INIT_PATH}
