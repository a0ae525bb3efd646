"""Golden files: compare, or with REFRESH_GOLDEN=1 rewrite the ones that changed and fail.

A refresh never passes silently: every file it rewrote is named in a failure, so a run with the
switch on cannot hide a change, and the next run without it is the one that goes green.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def check_golden(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else None
    if os.environ.get("REFRESH_GOLDEN") == "1":
        if old == text:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        pytest.fail(f"{path} {'created' if old is None else 'rewritten'}: review the diff")
    assert old is not None, f"no golden {path}: run with REFRESH_GOLDEN=1"
    assert text == old, f"{path} differs from what is produced: review, then REFRESH_GOLDEN=1"
