"""The adversarial suites run against real namespaces (root) and real servers. The redirector
attacks reuse tests/netns' fixtures: one namespace per test, removed even on failure."""

from __future__ import annotations

from tests.netns.conftest import lab, needs_root, netns  # noqa: F401 - fixtures, by import
