"""Import python-iptables without its slow library discovery.

On import, python-iptables resolves libip4tc/libxtables through ctypes.util.find_library, which
shells out to ldconfig and gcc, and runs `ldconfig -v` to find the xtables extension directory:
220-330 ms measured here. We point it at the libraries directly (XTABLES_LIBDIR,
PYTHON_IPTABLES_XTABLES_VERSION) and answer find_library from a directory listing while it imports. Its
`from distutils.sysconfig import get_python_lib` drags in setuptools' pkg_resources (~100 ms);
hiding distutils for the import makes it take its own sysconfig fallback.
"""

from __future__ import annotations

import ctypes.util
import functools
import glob
import os
import sys
from types import ModuleType

LIB_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/lib64",
    "/lib",
)


@functools.cache
def _listing(directory: str) -> tuple[str, ...]:
    try:
        return tuple(sorted(os.listdir(directory)))
    except OSError:
        return ()


def _fast_find_library(name: str) -> str | None:
    # python-iptables asks for ~30 names while importing: list each directory once.
    prefix = f"lib{name}.so."
    for directory in LIB_DIRS:
        # Versioned names only: libc.so (and other unversioned .so files) can be linker scripts.
        hits = [
            entry
            for entry in _listing(directory)
            if entry.startswith(prefix) and entry[len(prefix) :][:1].isdigit()
        ]
        if hits:
            return os.path.join(directory, hits[0])
    return None


def _xtables_env() -> None:
    for directory in LIB_DIRS:
        libs = sorted(glob.glob(os.path.join(directory, "libxtables.so.*")))
        if libs and os.path.isdir(os.path.join(directory, "xtables")):
            os.environ.setdefault("XTABLES_LIBDIR", os.path.join(directory, "xtables"))
            os.environ.setdefault("IPTABLES_LIBDIR", directory)
            major = os.path.basename(libs[0]).split(".so.")[1].split(".")[0]
            os.environ.setdefault("PYTHON_IPTABLES_XTABLES_VERSION", major)
            return


def load_iptc() -> ModuleType:
    _xtables_env()
    original = ctypes.util.find_library
    ctypes.util.find_library = _fast_find_library
    hidden = sys.modules.get("distutils", _ABSENT)
    sys.modules["distutils"] = None  # type: ignore[assignment]  # import -> ModuleNotFoundError
    try:
        import iptc
    finally:
        ctypes.util.find_library = original
        if hidden is _ABSENT:
            del sys.modules["distutils"]
        else:
            sys.modules["distutils"] = hidden
    _only_nat_is_visible(iptc)
    return iptc


def _only_nat_is_visible(iptc: ModuleType) -> None:
    """Resolving a jump target (`-j APPMESH_EGRESS`) makes python-iptables open every table
    (filter, mangle, raw, security) to look for the chain, which instantiates those tables in
    the namespace: a change we do not own. We only ever jump within nat, so hide the rest."""
    for table_class in (iptc.Table, iptc.Table6):
        for name in table_class.ALL:
            if name != "nat":
                table_class.existing_table_names[name] = False


_ABSENT = object()
