"""AWS Cloud Map discovery (controlplane/cloudmap.py) against moto's servicediscovery server.

AWS cannot be reached from these tests: moto's server, started here on loopback, stands in for
AWS Cloud Map (tests/support/cloudmap.py). boto3 finds it through the standard AWS_* variables
only, as the control plane would find AWS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from proxyinit.controlplane.cloudmap import CloudMapDiscovery
from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.controlplane.plane import ControlPlane
from proxyinit.mesh.model.cloudmap import CloudMapInstance, CloudMapQuery
from proxyinit.xds import types
from proxyinit.xds.endpoint import Endpoint
from tests.support.cloudmap import FakeCloudMap, fake_cloud_map
from tests.support.loopback import free_port
from tests.support.serve import run, serve_command

pytestmark = pytest.mark.timeout(60)

NS, SVC = "parity.local", "color"
QUERY = CloudMapQuery(NS, SVC)
RED = CloudMapQuery(NS, SVC, (("color", "red"),))


@pytest.fixture
def cloud_map(monkeypatch):
    with fake_cloud_map() as fake:
        for key, value in fake.env.items():
            monkeypatch.setenv(key, value)
        yield fake


async def test_discovery_answers_registered_instances_filtered_by_attributes(cloud_map):
    cloud_map.register(NS, SVC, "i-1", AWS_INSTANCE_IPV4="198.18.0.11", color="red")
    cloud_map.register(NS, SVC, "i-2", AWS_INSTANCE_IPV6="2001:2::12", color="blue")
    discovery = CloudMapDiscovery()
    assert await discovery.refresh([QUERY, RED])
    answers = discovery.with_answers_for([QUERY, RED])
    assert answers[QUERY] == (
        CloudMapInstance("i-1", ipv4="198.18.0.11"),
        CloudMapInstance("i-2", ipv6="2001:2::12"),
    )
    assert answers[RED] == (CloudMapInstance("i-1", ipv4="198.18.0.11"),)
    assert not await discovery.refresh([QUERY, RED])  # same answer: nothing to republish
    cloud_map.deregister(NS, SVC, "i-1")
    assert await discovery.refresh([QUERY, RED])
    assert discovery.with_answers_for([RED])[RED] == ()


async def test_unreachable_cloud_map_keeps_the_last_known_instances(cloud_map, caplog):
    cloud_map.register(NS, SVC, "i-1", AWS_INSTANCE_IPV4="198.18.0.11")
    discovery = CloudMapDiscovery()
    await discovery.refresh([QUERY])
    assert discovery.status()[str(QUERY)]["state"] == "OK"
    cloud_map.stop()
    with caplog.at_level(logging.WARNING, logger="proxyinit.controlplane.cloudmap"):
        assert not await discovery.refresh([QUERY])
    assert discovery.with_answers_for([QUERY])[QUERY] == (
        CloudMapInstance("i-1", ipv4="198.18.0.11"),
    )
    status = discovery.status()[str(QUERY)]
    assert status["state"] == "UNREACHABLE" and status["instances"] == 1, status
    assert status["lastSuccess"] is not None and status["error"]
    assert any("cannot be reached" in r.getMessage() for r in caplog.records), caplog.text


def _mesh(attributes: list | None = None) -> list[dict]:
    cloud_map = {"namespaceName": NS, "serviceName": SVC}
    if attributes:
        cloud_map["attributes"] = attributes
    return [
        {"meshName": "cm"},
        {
            "meshName": "cm",
            "virtualNodeName": "front-vn",
            "spec": {"backends": [{"virtualService": {"virtualServiceName": "color.cm.local"}}]},
        },
        {
            "meshName": "cm",
            "virtualNodeName": "color-vn",
            "spec": {
                "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                "serviceDiscovery": {"awsCloudMap": cloud_map},
            },
        },
        {
            "meshName": "cm",
            "virtualServiceName": "color.cm.local",
            "spec": {"provider": {"virtualNode": {"virtualNodeName": "color-vn"}}},
        },
    ]


def _served(plane: ControlPlane) -> list[str]:
    snapshot = plane.cache.get_snapshot("mesh/cm/virtualNode/front-vn")
    (resource,) = snapshot.resources(types.ENDPOINT).values()
    return [
        e.endpoint.address.socket_address.address
        for group in resource.message.endpoints
        for e in group.lb_endpoints
    ]


async def _eventually(check, want, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = check()
        if got == want or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.05)


async def test_control_plane_serves_cloud_map_changes_as_eds(cloud_map, tmp_path):
    mesh_file = tmp_path / "mesh.json"
    mesh_file.write_text(json.dumps(_mesh()))
    cloud_map.register(NS, SVC, "i-1", AWS_INSTANCE_IPV4="198.18.0.11")
    plane = ControlPlane(
        Endpoint(host="127.0.0.1", port=0),
        mesh_file=FileMeshSource(mesh_file, interval=0.05),
        cloud_map_interval=0.2,
    )
    async with plane:
        assert await _eventually(lambda: _served(plane), ["198.18.0.11"]) == ["198.18.0.11"]
        cloud_map.register(NS, SVC, "i-2", AWS_INSTANCE_IPV4="198.18.0.12")
        both = ["198.18.0.11", "198.18.0.12"]
        assert await _eventually(lambda: _served(plane), both) == both
        cloud_map.deregister(NS, SVC, "i-1")
        assert await _eventually(lambda: _served(plane), ["198.18.0.12"]) == ["198.18.0.12"]
        # An edit adding an attribute filter is a new query, asked at once.
        cloud_map.register(NS, SVC, "i-3", AWS_INSTANCE_IPV4="198.18.0.13", color="red")
        mesh_file.write_text(json.dumps(_mesh([{"key": "color", "value": "red"}])))
        assert await _eventually(lambda: _served(plane), ["198.18.0.13"]) == ["198.18.0.13"]


async def test_unreachable_cloud_map_is_a_status_on_the_debug_endpoint(tmp_path, monkeypatch):
    # Nothing listens on this port: Cloud Map "cannot be reached" (one attempt, no retries).
    monkeypatch.setenv("AWS_ENDPOINT_URL_SERVICEDISCOVERY", f"http://127.0.0.1:{free_port()}")
    for key, value in FakeCloudMap().env.items():
        if key != "AWS_ENDPOINT_URL_SERVICEDISCOVERY":
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    mesh_file = tmp_path / "mesh.json"
    mesh_file.write_text(json.dumps(_mesh()))
    plane = ControlPlane(
        Endpoint(host="127.0.0.1", port=0),
        mesh_file=FileMeshSource(mesh_file, interval=0.05),
        debug=Endpoint(host="127.0.0.1", port=0),
        cloud_map_interval=0.2,
    )

    def fetch() -> dict:
        url = f"http://127.0.0.1:{plane.debug_server.port}/"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)

    async with plane:
        deadline = asyncio.get_running_loop().time() + 10
        while "cloudMap" not in (body := await asyncio.to_thread(fetch)) or not body["cloudMap"]:
            assert asyncio.get_running_loop().time() < deadline, body
            await asyncio.sleep(0.05)
    status = body["cloudMap"][str(QUERY)]
    assert status["state"] == "UNREACHABLE" and status["instances"] == 0, status
    assert _served(plane) == []  # nothing known: an EDS cluster without endpoints


def test_serve_refuses_a_bad_cloud_map_interval(tmp_path):
    mesh_file = tmp_path / "mesh.json"
    mesh_file.write_text(json.dumps(_mesh()))
    for bad in ("0", "-1", "nan", "inf", "x"):
        flags = ("--xds", "127.0.0.1:0", "--cloud-map-interval", bad)
        process = run(serve_command(*flags, mesh_file=mesh_file), timeout=20)
        assert process.returncode == 2, (bad, process.stderr)
        assert f"--cloud-map-interval={bad!r}" in process.stderr, process.stderr


def test_serve_stops_on_sigterm_while_a_cloud_map_call_hangs(tmp_path):
    # A Cloud Map endpoint that takes the connection and never answers (a black-holed AWS): the
    # call is in flight when SIGTERM comes; the control plane must not wait for boto3's timeout.
    mesh_file = tmp_path / "mesh.json"
    mesh_file.write_text(json.dumps(_mesh()))
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        hole.settimeout(20)
        env = {**os.environ, **FakeCloudMap().env, "AWS_MAX_ATTEMPTS": "1"}
        env["AWS_ENDPOINT_URL_SERVICEDISCOVERY"] = f"http://127.0.0.1:{hole.getsockname()[1]}"
        process = subprocess.Popen(
            serve_command("--xds", "127.0.0.1:0", mesh_file=mesh_file),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert process.stdout.readline().startswith("ready")
            connection, _ = hole.accept()  # the DiscoverInstances call is waiting on us now
            process.send_signal(signal.SIGTERM)
            # A liveness bound, not a speed goal: boto3's read timeout (10 s) is what it must
            # not wait for.
            assert process.wait(timeout=5) == 0
            connection.close()
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)


async def test_a_failed_republish_is_logged_and_discovery_goes_on(cloud_map, caplog):
    cloud_map.register(NS, SVC, "i-1", AWS_INSTANCE_IPV4="198.18.0.11")
    discovery = CloudMapDiscovery(interval=0.05)
    calls: list[int] = []
    seen = [asyncio.Event(), asyncio.Event()]

    async def on_change():
        calls.append(len(discovery.with_answers_for([QUERY])[QUERY]))
        seen[len(calls) - 1].set()
        if len(calls) == 1:
            raise RuntimeError("translator bug")

    task = asyncio.create_task(discovery.run(lambda: [QUERY], on_change))
    try:
        with caplog.at_level(logging.ERROR, logger="proxyinit.controlplane.cloudmap"):
            await asyncio.wait_for(seen[0].wait(), 15)
            cloud_map.register(NS, SVC, "i-2", AWS_INSTANCE_IPV4="198.18.0.12")
            await asyncio.wait_for(seen[1].wait(), 15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert calls == [1, 2]
    assert any("not served" in r.getMessage() for r in caplog.records), caplog.text


async def test_without_boto3_the_status_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` raises ImportError
    discovery = CloudMapDiscovery()
    assert not await discovery.refresh([QUERY])
    status = discovery.status()[str(QUERY)]
    assert status["state"] == "UNREACHABLE" and "proxyinit[cloudmap]" in status["error"], status
