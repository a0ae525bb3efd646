"""PROXYINIT_LOG_FORMAT=json: every line the init container writes is one JSON object, and the
apply summary says what was applied (backend, families, rules added/removed, duration)."""

from __future__ import annotations

import json

import pytest

from tests.cases import env
from tests.netns.conftest import proxyinit

JSON = {"PROXYINIT_LOG_FORMAT": "json"}


def records(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines()]  # fails on any non-JSON line


@pytest.mark.parametrize("backend", ["legacy", "nftables"])
def test_apply_then_rerun_log_one_json_summary(netns, backend):
    config = {**env(ENABLE_IPV6="1", APP_PORTS="443,8443,443"), **JSON}
    first = proxyinit(netns, env=config, backend=backend)  # the entrypoint, as ECS runs it
    assert first.returncode == 0, first.stderr
    logged = records(first.stderr)
    warning = next(r for r in logged if r["level"] == "warning")
    assert "APPMESH_APP_PORTS" in warning["msg"] and "duplicate 443" in warning["msg"]
    (summary,) = [r for r in logged if r.get("event") == "apply"]
    assert summary["backend"] == backend and summary["families"] == ["ipv4", "ipv6"]
    assert summary["committed"] is True and summary["rules_added"] > 0
    assert summary["rules_removed"] == 0 and summary["duration_ms"] > 0
    again = records(proxyinit(netns, env=config, backend=backend).stderr)
    (summary,) = [r for r in again if r.get("event") == "apply"]
    assert summary["committed"] is False and summary["rules_added"] == 0


def test_configuration_error_is_a_json_object_too(netns):
    result = proxyinit(netns, env={**env(IGNORE_UID="root"), **JSON}, backend="legacy")
    assert result.returncode == 2
    (error,) = records(result.stderr)
    assert error["level"] == "error" and error["exit_code"] == 2
    assert "APPMESH_IGNORE_UID" in error["msg"]


def test_unknown_log_format_is_a_configuration_error(netns):
    result = proxyinit(netns, env={**env(), "PROXYINIT_LOG_FORMAT": "xml"}, backend="legacy")
    assert result.returncode == 2
    assert "PROXYINIT_LOG_FORMAT='xml'" in result.stderr


def test_entrypoint_verify_logs_json_too(netns):
    """PROXYINIT_VERIFY=1 with JSON logs: the checks are JSON objects like everything else."""
    result = proxyinit(netns, env={**env(), **JSON, "PROXYINIT_VERIFY": "1"}, backend="legacy")
    logged = records(result.stderr)
    checks = [r for r in logged if r.get("event") == "verify"]
    # No route out of this bare namespace: the egress paths cannot be probed, and say so.
    assert [c["path"] for c in checks] == ["egress", "ingress"]
    assert "no routable" in checks[0]["skipped"] and checks[1]["got"] == 15000
    assert result.returncode == 0, result.stderr
    assert all(c["ok"] for c in checks) and result.stdout == ""
