"""docker/: the ECS task definition, the Pod and the compose file say what the code expects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from proxyinit.cli import build_parser
from proxyinit.mesh.runtime.bootstrap import settings_from_env
from proxyinit.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def env_list(pairs: list[dict]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in pairs}


@pytest.fixture(scope="module")
def task_definition() -> dict:
    return json.loads((DOCKER / "ecs-task-definition.json").read_text())


def containers(task: dict) -> dict[str, dict]:
    return {c["name"]: c for c in task["containerDefinitions"]}


def test_task_definition_matches_register_task_definition_input_shape(task_definition):
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(task_definition, shape)
    assert not report.has_errors(), report.generate_report()


def test_task_definition_proxyinit_container(task_definition):
    init = containers(task_definition)["proxyinit"]
    assert task_definition["requiresCompatibilities"] == ["EC2"]  # Fargate refuses NET_ADMIN
    assert init["essential"] is False
    assert init["linuxParameters"]["capabilities"]["add"] == ["NET_ADMIN"]
    settings = load_settings(env_list(init["environment"]))
    assert settings.START_ENABLED and settings.IGNORE_UID == 1337


def test_task_definition_envoy_and_app_order(task_definition):
    by_name = containers(task_definition)
    envoy, app = by_name["envoy"], by_name["app"]
    assert envoy["user"] == "1337"
    settings_from_env(env_list(envoy["environment"]))  # raises on a bad bootstrap env
    assert {"containerName": "envoy", "condition": "HEALTHY"} in app["dependsOn"]
    assert {"containerName": "proxyinit", "condition": "SUCCESS"} in app["dependsOn"]
    assert app["user"] != "1337"  # the app's traffic must be redirected


def test_pod_spec():
    pod = yaml.safe_load((DOCKER / "kubernetes.yaml").read_text())["spec"]
    init = pod["initContainers"][0]
    assert {"NET_ADMIN", "NET_RAW"} <= set(init["securityContext"]["capabilities"]["add"])
    settings = load_settings(env_list(init["env"]))
    envoy, app = pod["containers"]
    assert envoy["securityContext"]["runAsUser"] == settings.IGNORE_UID
    assert app["securityContext"]["runAsUser"] != settings.IGNORE_UID
    assert any(r.contains(app["ports"][0]["containerPort"]) for r in settings.APP_PORTS)
    settings_from_env(env_list(envoy["env"]))


def test_compose_shares_one_network_namespace():
    services = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    for name in ("proxyinit", "envoy", "app"):
        assert services[name]["network_mode"] == "service:task"
    assert (
        services["envoy"]["depends_on"]["proxyinit"]["condition"]
        == "service_completed_successfully"
    )
    assert services["app"]["depends_on"]["envoy"]["condition"] == "service_healthy"
    assert "NET_ADMIN" in services["proxyinit"]["cap_add"]


def container_commands() -> list[list[str]]:
    task = json.loads((DOCKER / "ecs-task-definition.json").read_text())
    pod = yaml.safe_load((DOCKER / "kubernetes.yaml").read_text())["spec"]
    services = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    commands = [c["command"] for c in task["containerDefinitions"] if "command" in c]
    commands += [c["args"] for c in pod["containers"] if "args" in c]
    commands += [s["command"] for s in services.values() if "command" in s]
    return commands


@pytest.mark.parametrize("argv", container_commands(), ids=lambda argv: " ".join(argv))
def test_container_commands_exist(argv):
    args = build_parser().parse_args(argv)
    assert callable(args.handler)


def test_dockerfile_entrypoint_and_iptables():
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["proxyinit"]' in text
    assert "iptables" in text and "iproute2" in text


def test_the_image_build_has_the_proxyinit_script():
    """`pip install .` in the Dockerfile needs every script-file pyproject.toml names."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    scripts = project["tool"]["setuptools"]["script-files"]
    copied = [
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    assert scripts == ["scripts/proxyinit"]
    assert all(any(script.startswith(c.rstrip("/")) for c in copied) for script in scripts), copied


def test_the_image_installs_every_control_plane_extra():
    """The image also runs `xds serve`: Cloud Map discovery and PostgreSQL replicas need their
    extras installed, or `--db postgresql://` and awsCloudMap nodes fail only in production."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(project["project"]["optional-dependencies"]) - {"dev"}
    install = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if "pip install" in line
    )
    named = install.split("pip install", 1)[1].split("[", 1)[1].split("]", 1)[0]
    assert set(named.split(",")) == extras, install


def test_a_golden_refresh_fails_naming_what_it_rewrote(tmp_path, monkeypatch):
    from tests.support.golden import check_golden

    golden = tmp_path / "case.txt"
    golden.write_text("old\n")
    monkeypatch.setenv("REFRESH_GOLDEN", "1")
    check_golden(golden, "old\n")  # unchanged: passes
    with pytest.raises(pytest.fail.Exception, match=r"case\.txt rewritten"):
        check_golden(golden, "new\n")
    assert golden.read_text() == "new\n"
    monkeypatch.delenv("REFRESH_GOLDEN")
    check_golden(golden, "new\n")
    with pytest.raises(AssertionError, match="differs"):
        check_golden(golden, "other\n")


def test_nothing_tracked_reads_outside_the_repository():
    """A user's clone has nothing beside it (CI runs the suite in such a clone: .ci/run)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    files = subprocess.run(
        ["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = [
        name
        for name in files
        if (root / name).is_file()
        and not name.startswith("tests/data/")
        and "../" + "shared" in (root / name).read_text(errors="replace")
    ]
    assert outside == []
