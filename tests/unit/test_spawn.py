"""backends/spawn.py, the backends' child processes without the subprocess module."""

from __future__ import annotations

import errno
import os
import shutil

import pytest

from proxyinit.firewall.backends.spawn import start, which


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, name
    return path


def test_large_input_and_output_do_not_deadlock():
    text = "".join(f"line {i} " + "x" * 60 + "\n" for i in range(20000))  # ~1.4 MB each way
    child = start([tool("cat")])
    out, err = child.communicate(text)
    assert (out, err, child.returncode) == (text, "", 0)


def test_stderr_and_exit_status_are_returned():
    child = start([tool("sh"), "-c", "echo out; echo err >&2; exit 3"])
    assert child.communicate() == ("out\n", "err\n") and child.returncode == 3


def test_a_tool_that_cannot_be_executed_is_an_oserror_naming_it(tmp_path):
    """Raised by communicate(): start() returns at once, so children exec side by side."""
    with pytest.raises(OSError) as raised:
        start([str(tmp_path / "missing")]).communicate("input")
    assert raised.value.errno == errno.ENOENT and raised.value.filename.endswith("missing")
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(OSError) as raised:
        start([str(script)]).communicate()
    assert raised.value.errno == errno.EACCES


def test_a_child_killed_before_it_was_fed_is_reaped():
    children = [start([tool("cat")]) for _ in range(3)]
    for child in children:
        child.kill()
        assert child.communicate() == ("", "") and child.returncode == -9


def test_a_killed_child_never_sees_its_input():
    child = start([tool("sh"), "-c", "read line; echo got $line"])
    child.kill()
    out, _ = child.communicate()
    assert out == "" and child.returncode == -9


def test_a_child_that_stops_reading_early_is_not_an_error_here():
    child = start([tool("sh"), "-c", "echo refused >&2; exit 2"])
    _, err = child.communicate("x" * 1_000_000)
    assert (err, child.returncode) == ("refused\n", 2)


def test_before_exec_runs_in_the_child(tmp_path):
    marker = tmp_path / "ran"
    child = start([tool("true")], before_exec=lambda: marker.write_text("child"))
    child.communicate()
    assert marker.read_text() == "child" and child.returncode == 0


def test_which_searches_path_as_shutil_does(tmp_path, monkeypatch):
    """PATH's directories in order (an empty entry is the current directory), then /usr/sbin
    and /sbin; only executables count."""
    (tmp_path / "bin").mkdir()
    for name, mode in (("runs", 0o755), ("plain", 0o644)):
        (tmp_path / "bin" / name).write_text("#!/bin/sh\n")
        (tmp_path / "bin" / name).chmod(mode)
    monkeypatch.setenv("PATH", f"/nonexistent:{tmp_path}/bin/")
    assert which("runs") == f"{tmp_path}/bin/runs" == shutil.which("runs")
    assert which("plain") is None
    monkeypatch.chdir(tmp_path / "bin")
    monkeypatch.setenv("PATH", "")
    assert which("runs") == "runs"
    monkeypatch.delenv("PATH")
    assert which("sh") == shutil.which("sh", path=os.defpath)
