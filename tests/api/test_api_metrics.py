"""`xds serve --metrics` in store mode: the API's requests by operation and status, the store's
commits and the snapshot builds, scraped from a real server while the real aws CLI writes."""

from __future__ import annotations

import json
import socket

import pytest

from tests.api.conftest import Server
from tests.api.test_api_walkthrough import teller
from tests.support.metrics_scrape import scrape, scrape_when


@pytest.fixture
def metered(tmp_path):
    running = Server(tmp_path / "mesh.db", metrics_port=0)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def announce_oversized_create(server: Server) -> str:
    """A CreateMesh whose Content-Length is over the cap: refused (413) before routing reads it."""
    with socket.create_connection(("127.0.0.1", server.api_port), timeout=5) as sock:
        sock.sendall(
            b"PUT /v20190125/meshes HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 104857600\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer.decode("latin-1")


def test_api_requests_store_commits_and_builds_are_counted(metered):
    before = scrape(metered.metrics_port)
    assert before.total("proxyinit_api_requests_total") == 0
    assert before.value("proxyinit_store_commit_seconds_count") == 0

    metered.aws("create-mesh", "--mesh-name", "default")
    again = metered.aws("create-mesh", "--mesh-name", "default", check=False)
    assert again.returncode != 0 and "ConflictException" in again.stderr
    missing = metered.aws("describe-mesh", "--mesh-name", "nope", check=False)
    assert missing.returncode != 0 and "NotFoundException" in missing.stderr
    node = teller("")
    metered.aws(
        "create-virtual-node", "--mesh-name", "default", "--cli-input-json", json.dumps(node)
    )
    assert announce_oversized_create(metered).startswith("HTTP/1.1 413")

    s = scrape_when(metered.metrics_port, lambda s: s.total("proxyinit_api_requests_total") == 5)
    requests = {
        (labels["operation"], labels["status"]): value
        for (name, items), value in s.items()
        if name == "proxyinit_api_requests_total"
        for labels in [dict(items)]
    }
    assert requests == {
        ("CreateMesh", "200"): 1,
        ("CreateMesh", "409"): 1,
        ("CreateMesh", "413"): 1,
        ("DescribeMesh", "404"): 1,
        ("CreateVirtualNode", "200"): 1,
    }
    assert s.value("proxyinit_api_request_seconds_count", operation="CreateMesh") == 3
    # Two writes committed (the conflict and the refusals never reach the store) and built.
    assert s.value("proxyinit_store_commit_seconds_count") == 2
    assert s.value("proxyinit_store_commit_seconds_sum") > 0
    assert s.value("proxyinit_store_commit_failures_total") == 0
    assert s.value("proxyinit_snapshot_prepare_seconds_count") == 2
    assert s.value("proxyinit_snapshot_prepared_total") == 1  # the node's one snapshot


def test_a_path_no_operation_serves_is_counted_as_unknown(metered):
    import urllib.error
    import urllib.request

    for path in ("/v20190125/nothing", "/" + "x" * 300):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{metered.url}{path}", timeout=10)
        assert caught.value.code == 404
    s = scrape_when(metered.metrics_port, lambda s: s.total("proxyinit_api_requests_total") >= 2)
    assert s.value("proxyinit_api_requests_total", operation="unknown", status="404") == 2
    assert s.total("proxyinit_api_requests_total") == 2  # the path is no label value


def test_a_failed_store_commit_is_counted_and_timed(tmp_path):
    from proxyinit.controlplane.metrics import PlaneMetrics, TimedStore
    from proxyinit.errors import RuntimeFailure
    from proxyinit.store.base import Key, Record
    from proxyinit.store.sqlite import SqliteStore

    metrics = PlaneMetrics()
    store = TimedStore(SqliteStore(tmp_path / "mesh.db"), metrics)
    store.commit([], [])
    # A record the schema refuses (uid NOT NULL): the transaction is rolled back and raises.
    bad = Record(Key("Mesh", "m", "", "m"), {}, None, "arn", 1, 0.0, 0.0)
    with pytest.raises(RuntimeFailure, match="write failed"):
        store.commit([bad], [])
    assert store.load() == []
    store.close()
    value = metrics.registry.get_sample_value
    assert value("proxyinit_store_commit_seconds_count") == 2
    assert value("proxyinit_store_commit_failures_total") == 1
