"""The installed `proxyinit` command starts its interpreter without `site` (`-S`, put back by
the install step: pip drops it) and puts site-packages on sys.path itself (scripts/proxyinit):
the path must be the one `site` makes, in a venv, a venv with the system's packages, with
PYTHONPATH, and the command must still run (no timing here: see bench/apply.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from proxyinit.contract import init_container_env

ROOT = Path(__file__).resolve().parents[2]
COMMAND = Path(sys.executable).with_name("proxyinit")  # what `make install` installed
# sys.path and friends after the script's set-up (its `main` not called: run_name is not
# __main__), or after `site` for the comparison; and whether python-iptables (in
# site-packages only) imports.
PROBE = """
import json, sys
if sys.flags.no_site:
    import runpy
    runpy.run_path(sys.argv[1], run_name="path_setup_only")
from importlib.util import find_spec
print(json.dumps({"path": sys.path, "prefix": sys.prefix, "site": "site" in sys.modules,
                  "iptc": find_spec("iptc") is not None}))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPMESH_", "PROXYINIT_"))}
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def _probe(python: str, *flags: str, cwd: Path, env: dict[str, str]) -> dict:
    argv = [python, *flags, "-c", PROBE, str(COMMAND)]
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_installed_command_starts_without_site(tmp_path):
    first_line = COMMAND.read_text().splitlines()[0]
    assert first_line.startswith("#!/") and first_line.endswith("python -S"), first_line
    env = _env(**{**init_container_env("9080"), "APPMESH_START_ENABLED": "0"})
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    proc = subprocess.run(
        [str(COMMAND)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0 and "routing is disabled" in proc.stderr, proc.stderr
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "proxyinit.settings" in names and "site" not in names
    assert "_distutils_hack" not in names  # a .pth `import` line: for build tools only


def test_the_installed_command_runs_its_subcommands(tmp_path):
    """From a directory that is not the repository and without PYTHONPATH: the editable
    install's .pth entry is what finds proxyinit."""
    proc = subprocess.run(
        [str(COMMAND), "--help"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0 and "usage: proxyinit" in proc.stdout, proc.stderr


@pytest.mark.parametrize("pythonpath", [None, str(ROOT)])
def test_the_path_is_the_one_site_makes(tmp_path, pythonpath):
    env = _env(**({"PYTHONPATH": pythonpath} if pythonpath else {}))
    with_site = _probe(sys.executable, cwd=tmp_path, env=env)
    without = _probe(sys.executable, "-S", cwd=tmp_path, env=env)
    assert not without["site"] and without["iptc"]
    assert without["path"] == with_site["path"] and without["prefix"] == with_site["prefix"]


def test_outside_a_venv_the_path_is_the_one_site_makes(tmp_path):
    """The image's layout: the interpreter's own site-packages (here the venv's base
    interpreter's, with PYTHONPATH to find proxyinit). Debian's python3, which `make install`
    makes the venv with, has dist-packages instead (its own `site`): left to `site`."""
    python = getattr(sys, "_base_executable", sys.executable)
    env = _env(PYTHONPATH=str(ROOT), PYTHONNOUSERSITE="1")
    with_site = _probe(python, cwd=tmp_path, env=env)
    without = _probe(python, "-S", cwd=tmp_path, env=env)
    debian = any(p.endswith("dist-packages") for p in with_site["path"])
    assert without["site"] == debian
    # `site` run late makes -c's "" absolute (the command's own entry, its directory, already is)
    path = [[p or str(tmp_path) for p in probe["path"]] for probe in (without, with_site)]
    assert path[0] == path[1] and without["prefix"] == with_site["prefix"]


def test_a_venv_with_the_system_packages_is_left_to_site(tmp_path):
    """include-system-site-packages = true: the script defers to `site` (same path as it)."""
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
        check=True,
        timeout=60,
    )
    python = str(venv / "bin" / "python")
    env = _env(PYTHONPATH=str(ROOT))
    code = "import json, sys; print(json.dumps(sys.path))"
    expected = subprocess.run(
        [python, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    setup = f"import runpy; runpy.run_path({str(COMMAND)!r}, run_name='path_setup_only'); "
    got = subprocess.run(
        [python, "-S", "-c", setup + code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert got.returncode == 0, got.stderr
    # `site` run late makes -c's "" absolute; the script's own entry (its directory) already is.
    assert json.loads(got.stdout) == [p or str(tmp_path) for p in json.loads(expected.stdout)]


def _venv_path(venv: Path, cwd: Path, env: dict[str, str], without_site: bool) -> tuple:
    """(sys.path, whether `site` was imported) in `venv`, with or without the script."""
    python = str(venv / "bin" / "python")
    setup = f"import runpy; runpy.run_path({str(COMMAND)!r}, run_name='path_setup_only'); "
    code = "import json, sys; print(json.dumps([sys.path, 'site' in sys.modules]))"
    argv = [python, *(["-S", "-c", setup + code] if without_site else ["-c", code])]
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    path, site = json.loads(proc.stdout)
    # `site` run late makes -c's "" absolute; the script's own entry (its directory) already is.
    return [p or str(cwd) for p in path], site


def test_pth_entries_give_the_path_site_makes(tmp_path):
    """Plain entries (absolute, relative) are added by the script itself; one `site` would
    normalise (`..`, a trailing slash) leaves the whole path to `site`: the same either way."""
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    sitedir = venv / "lib" / version / "site-packages"
    for name in ("absolute", "above"):
        (tmp_path / name).mkdir()
    (sitedir / "relative").mkdir()
    env = _env(PYTHONPATH=str(ROOT))
    absolute, relative, above = (
        str(tmp_path / "absolute"),
        str(sitedir / "relative"),
        str(tmp_path / "above"),
    )
    for lines, added, by_site in (
        ([absolute, "relative", "# comment", "import sys", "missing"], [absolute, relative], False),
        (["relative", "../../../../above"], [relative, above], True),
        ([f"{absolute}/"], [absolute], True),
    ):
        (sitedir / "a.pth").write_text("\n".join(lines) + "\n")
        expected, _ = _venv_path(venv, tmp_path, env, without_site=False)
        assert expected[-len(added) :] == added
        assert _venv_path(venv, tmp_path, env, without_site=True) == (expected, by_site)


def test_without_home_the_path_is_the_one_site_makes(tmp_path):
    """Outside a venv the user site (~/.local) is looked for: with no HOME, `site` does it."""
    python = getattr(sys, "_base_executable", sys.executable)
    env = _env(PYTHONPATH=str(ROOT))
    env.pop("HOME", None)
    with_site = _probe(python, cwd=tmp_path, env=env)
    without = _probe(python, "-S", cwd=tmp_path, env=env)
    path = [[p or str(tmp_path) for p in probe["path"]] for probe in (without, with_site)]
    assert path[0] == path[1] and without["prefix"] == with_site["prefix"]
