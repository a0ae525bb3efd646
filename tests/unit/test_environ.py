"""proxyinit/environ.py reads the environment from posix.environ, the dict os.environ writes
through: what os.environ (and pytest's monkeypatch) sets, it sees, byte for byte."""

from __future__ import annotations

import os

import pytest

from proxyinit import environ
from proxyinit.contract import init_container_env
from proxyinit.errors import ConfigError
from proxyinit.settings import PortRange, load_settings

UNDECODABLE = "90\udcff80"  # b"90\xff80": not UTF-8; os.environ's surrogateescape form


def test_what_monkeypatch_sets_and_deletes_is_seen(monkeypatch):
    monkeypatch.setenv("PROXYINIT_TEST_VALUE", "a=b c")
    assert environ.get("PROXYINIT_TEST_VALUE") == "a=b c" == os.environ["PROXYINIT_TEST_VALUE"]
    monkeypatch.delenv("PROXYINIT_TEST_VALUE")
    assert environ.get("PROXYINIT_TEST_VALUE") is None
    assert environ.get("PROXYINIT_TEST_VALUE", "default") == "default"


def test_an_undecodable_byte_reads_as_os_environ_gives_it(monkeypatch):
    monkeypatch.setenv("PROXYINIT_TEST_VALUE", UNDECODABLE)
    assert os.environb[b"PROXYINIT_TEST_VALUE"] == b"90\xff80"
    assert environ.get("PROXYINIT_TEST_VALUE") == UNDECODABLE == os.environ["PROXYINIT_TEST_VALUE"]


def test_load_settings_reads_what_monkeypatch_set(monkeypatch):
    for key, value in init_container_env("9091").items():
        monkeypatch.setenv(key, value)
    assert (PortRange(9091, 9091),) == load_settings().APP_PORTS
    monkeypatch.setenv("APPMESH_APP_PORTS", UNDECODABLE)
    with pytest.raises(ConfigError) as from_environ:
        load_settings()
    with pytest.raises(ConfigError) as from_os:
        load_settings(dict(os.environ))
    assert "APPMESH_APP_PORTS" in str(from_environ.value)
    assert str(from_environ.value) == str(from_os.value)
