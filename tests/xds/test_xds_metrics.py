"""`xds serve --metrics`: the xDS numbers, scraped over HTTP while simulated Envoys (real gRPC
ADS clients) subscribe, ACK, NACK and leave, and the mesh file is edited."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from proxyinit.controlplane.cli import _warn_if_exposed
from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.controlplane.plane import ControlPlane
from proxyinit.xds import types
from proxyinit.xds.endpoint import Endpoint
from proxyinit.xds.stream import SHORT_TYPE_NAMES
from tests.support.metrics_scrape import Scrape, scrape
from tests.support.serve import ready_ports, run, serve_command
from tests.xds.conftest import AdsClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "colorapp"
GATEWAY = "mesh/default/virtualNode/colorgateway-vn"
SHORT = {url: SHORT_TYPE_NAMES[url] for url in types.PUSH_ORDER}


async def scrape_until(plane: ControlPlane, holds: Callable[[Scrape], bool]) -> Scrape:
    """Scrape until `holds` (the server handles a request after the client sent it), <= 5 s."""
    for _ in range(250):
        result = await asyncio.to_thread(scrape, plane.metrics_server.port)
        if holds(result):
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"metrics never reached the expected values: {dict(result)}")


async def subscribe_all(client: AdsClient, plane: ControlPlane) -> dict[str, list[str]]:
    """Subscribe to every type (EDS, RDS: the names the snapshot has) and ACK; the names."""
    snapshot = plane.cache.get_snapshot(GATEWAY)
    subscribed = {}
    for type_url in types.PUSH_ORDER:
        wildcard = type_url in (types.CLUSTER, types.LISTENER)
        names = subscribed[type_url] = [] if wildcard else sorted(snapshot.resources(type_url))
        await client.send(type_url, names)
        await client.ack(await client.read(), names)  # the same names, or it resubscribes
    return subscribed


@pytest.fixture
async def plane(tmp_path):
    mesh_file = tmp_path / "mesh.yaml"
    shutil.copy(EXAMPLES / "mesh.yaml", mesh_file)
    running = ControlPlane(
        Endpoint("127.0.0.1", 0),
        mesh_file=FileMeshSource(mesh_file, 0.01),
        metrics=Endpoint("127.0.0.1", 0),
    )
    async with running:
        running.mesh_file = mesh_file
        yield running


async def test_streams_pushes_acks_nacks_and_latency_move_as_envoys_talk(plane):
    s = await asyncio.to_thread(scrape, plane.metrics_server.port)
    assert s.value("proxyinit_xds_connected_envoys", mesh="default") == 0
    assert s.value("proxyinit_snapshot_prepare_seconds_count") == 1  # the initial load
    assert s.value("proxyinit_snapshot_prepared_total") == len(plane.cache.node_ids())
    assert s.value("process_resident_memory_bytes") > 0

    channel = grpc.aio.insecure_channel(f"127.0.0.1:{plane.xds_port}")
    client = AdsClient(channel, GATEWAY)
    try:
        names = await subscribe_all(client, plane)
        s = await scrape_until(
            plane, lambda s: s.total("proxyinit_xds_push_ack_seconds_count") == len(SHORT)
        )
        assert s.value("proxyinit_xds_connected_envoys", mesh="default") == 1
        assert s.value("proxyinit_xds_streams_opened_total") == 1
        for short in SHORT.values():
            assert s.value("proxyinit_xds_pushes_total", type=short) == 1
            assert s.value("proxyinit_xds_requests_total", type=short, kind="subscribe") == 1
            assert s.value("proxyinit_xds_requests_total", type=short, kind="ack") == 1
            assert s.value("proxyinit_xds_push_ack_seconds_count", type=short) == 1
        assert s.total("proxyinit_xds_requests_total", kind="nack") == 0

        # An edit: each changed type is pushed once; Envoy NACKs the first, ACKs the rest.
        before = plane.cache.get_snapshot(GATEWAY).versions()
        shutil.copy(EXAMPLES / "route-blue-red.yaml", plane.mesh_file)
        first = await client.read()
        await client.send(first.type_url, names[first.type_url], nonce=first.nonce, error="no")
        after = plane.cache.get_snapshot(GATEWAY).versions()
        changed = [url for url in types.PUSH_ORDER if after[url] != before[url]]
        assert changed and first.type_url == changed[0]
        for _ in changed[1:]:
            response = await client.read()
            await client.ack(response, names[response.type_url])
        nacked = SHORT[first.type_url]
        s = await scrape_until(
            plane,
            lambda s: (
                s.total("proxyinit_xds_requests_total", kind="nack") == 1
                and s.total("proxyinit_xds_push_ack_seconds_count") == len(SHORT) + len(changed) - 1
            ),
        )
        assert s.value("proxyinit_xds_requests_total", type=nacked, kind="nack") == 1
        assert s.value("proxyinit_xds_push_ack_seconds_count", type=nacked) == 1  # not 2
        assert s.total("proxyinit_xds_pushes_total") == len(SHORT) + len(changed)
        assert s.value("proxyinit_snapshot_prepare_seconds_count") == 2
    finally:
        await client.close()
        await channel.close()
    s = await scrape_until(plane, lambda s: s.total("proxyinit_xds_connected_envoys") == 0)
    assert ("proxyinit_xds_connected_envoys", frozenset({("mesh", "default")})) not in s


async def test_two_planes_in_one_process_count_apart(tmp_path, plane):
    other = ControlPlane(
        Endpoint("127.0.0.1", 0),
        mesh_file=FileMeshSource(EXAMPLES / "mesh.yaml"),
        metrics=Endpoint("127.0.0.1", 0),
    )
    async with other:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{plane.xds_port}")
        client = AdsClient(channel, GATEWAY)
        try:
            await subscribe_all(client, plane)
            await scrape_until(plane, lambda s: s.total("proxyinit_xds_connected_envoys") == 1)
            s = await asyncio.to_thread(scrape, other.metrics_server.port)
            assert s.total("proxyinit_xds_connected_envoys") == 0
            assert s.total("proxyinit_xds_pushes_total") == 0
        finally:
            await client.close()
            await channel.close()


async def test_the_metrics_endpoint_serves_only_get_metrics(plane):
    import urllib.error
    import urllib.request

    base = f"http://127.0.0.1:{plane.metrics_server.port}"
    for path, method, status in (("/nope", "GET", 404), ("/metrics", "POST", 405)):
        request = urllib.request.Request(base + path, method=method)
        with pytest.raises(urllib.error.HTTPError) as caught:
            await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
        assert caught.value.code == status
    assert "ready xds" not in plane.ports() and f"metrics {plane.metrics_server.port}" in (
        plane.ports()
    )


def test_metrics_on_a_non_loopback_address_is_warned_about(caplog):
    loopback = Endpoint("127.0.0.1", 15010)
    with caplog.at_level(logging.WARNING):
        _warn_if_exposed(loopback, None, None, Endpoint("0.0.0.0", 15090))
    assert "--metrics 0.0.0.0:15090 is not loopback" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _warn_if_exposed(loopback, None, None, Endpoint("127.0.0.1", 15090))
    assert caplog.text == ""


def test_xds_serve_metrics_flag_serves_the_scrape_and_refuses_a_bad_address():
    import subprocess

    command = serve_command("--xds", "127.0.0.1:0", mesh_file=EXAMPLES / "mesh.yaml")
    bad = run([*command, "--metrics", "127.0.0.1:http"])
    assert bad.returncode == 2 and "--metrics=" in bad.stderr, bad.stderr
    process = subprocess.Popen(
        [*command, "--metrics", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        ports = ready_ports(process.stdout.readline().decode())
        assert "metrics" in ports, ports
        s = scrape(ports["metrics"])
        assert s.value("proxyinit_snapshot_prepared_total") == 5  # 4 nodes and the gateway
    finally:
        process.terminate()
        process.communicate(timeout=20)
    assert process.returncode == 0


def test_the_example_dashboard_and_the_readme_name_only_metrics_a_plane_exposes():
    import json
    import re

    from proxyinit.controlplane.metrics import PlaneMetrics

    # As exposed: counters end in _total, histograms are read through _bucket/_sum/_count.
    names = {
        f"{f.name}_total" if f.type == "counter" else f.name: f.type
        for f in PlaneMetrics().registry.collect()
    }
    queryable = set(names) | {
        f"{n}_{s}" for n, t in names.items() if t == "histogram" for s in ("bucket", "sum", "count")
    }
    root = Path(__file__).resolve().parents[2]
    dashboard = json.loads((root / "docker" / "grafana-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    used = set(re.findall(r"\b(?:proxyinit|process)_[a-z_]+", exprs))
    assert used and used <= queryable, used - queryable
    documented = set(re.findall(r"`(proxyinit_[a-z_]+)`", (root / "README.md").read_text()))
    ours = {n for n in names if n.startswith("proxyinit_")}
    assert ours <= documented, ours - documented
