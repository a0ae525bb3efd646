"""Idle and slow connections are bounded: the real `xds serve`, a low cap set by its flags.

Past `--http-max-connections` a new connection is answered 503 and closed (refused, not
queued); a connection that sends no request head within `--http-header-timeout` is closed; the
ADS server keeps serving new streams meanwhile; the open files limit is raised at start.
"""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.serve import ready_ports, run, serve_command

ROOT = Path(__file__).resolve().parents[2]
NODE_SPEC = {
    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
    "serviceDiscovery": {"dns": {"hostname": "a.local"}},
}


def _lower_soft_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))


@pytest.fixture
def capped(tmp_path):
    command = serve_command(
        "--api", "127.0.0.1:0", "--xds", "127.0.0.1:0", "--debug", "127.0.0.1:0",
        "--http-max-connections", "40", "--http-header-timeout", "1", "--log-level", "info",
        db=tmp_path / "m.db",
    )  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        preexec_fn=_lower_soft_nofile,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("ready"), process.stderr.read()
        yield process, ready_ports(line)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def _request(port: int, path: str, body: dict | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method="GET" if body is None else "PUT",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _eventually_ok(port: int, path: str) -> int:
    """The status of GET `path`, retried on 503 (the cap is full of idle sockets) for 10 s."""
    deadline = time.monotonic() + 10
    while True:
        status = _request(port, path)
        if status != 503 or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def _ads_first_response(port: int) -> str:
    import grpc
    from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

    from proxyinit.xds import types

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = discovery_pb2.DiscoveryRequest(type_url=types.CLUSTER)
        request.node.id = "mesh/m/virtualNode/a"
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        call = stub.StreamAggregatedResources(iter([request]), timeout=10)
        response = next(call)
        call.cancel()
        return response.type_url


def _idle_sockets(port: int, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sockets.append(sock)
    return sockets


def _closed_by_server(sock: socket.socket) -> bytes:
    """What the server said before closing `sock` (b'' if nothing); raises if still open in 5 s."""
    sock.settimeout(5)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_idle_connections_past_the_cap_are_refused_and_ads_and_gets_still_served(capped):
    _, ports = capped
    assert _request(ports["api"], "/v20190125/meshes", {"meshName": "m", "spec": {}}) == 200
    body = {"virtualNodeName": "a", "spec": NODE_SPEC}
    assert _request(ports["api"], "/v20190125/meshes/m/virtualNodes", body) == 200
    idle = []
    try:
        for port in (ports["api"], ports["debug"]):
            idle += _idle_sockets(port, 150)
        assert _ads_first_response(ports["xds"]).endswith("Cluster")
        # The last sockets were past the cap: refused at once with a 503.
        assert b" 503 " in _closed_by_server(idle[-1])
        # The first ones sent nothing: closed after the header timeout (the API says nothing,
        # the debug endpoint a 400).
        assert _closed_by_server(idle[0]) == b""
        assert _eventually_ok(ports["api"], "/v20190125/meshes/m") == 200
        assert _eventually_ok(ports["debug"], "/") == 200
    finally:
        for sock in idle:
            sock.close()


def test_open_files_limit_is_raised_to_the_hard_limit_at_start(capped):
    process, _ = capped
    limits = Path(f"/proc/{process.pid}/limits").read_text()
    line = next(row for row in limits.splitlines() if row.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    assert soft == hard


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--http-max-connections", "0"), ("--http-header-timeout", "nan"), ("--xds-max-streams", "x")],
)
def test_a_bad_limit_is_a_configuration_error_naming_the_flag(tmp_path, flag, value):
    done = run(serve_command(flag, value, db=tmp_path / "m.db"))
    assert done.returncode == 2
    assert flag in done.stderr and value in done.stderr
    assert not (tmp_path / "m.db").exists()
