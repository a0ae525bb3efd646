"""The adversarial pass against the API, kept: each attack that once got through (or took the
server down) is rerun against real server processes on loopback (mesh files: see
test_mesh_file_attacks.py).

What must hold, whatever is sent: no 5xx; a refusal changes nothing; a write acknowledged with a
200 survives kill -9; the server keeps answering other clients; memory stays bounded. Every test
is bounded in time (socket timeouts, pytest-timeout) and removes its processes and files.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.api.conftest import Server
from tests.api.test_api_walkthrough import teller
from tests.support.http_call import http_call
from tests.support.loopback import free_port
from tests.support.serve import run, serve_command
from tests.support.sigv4 import signed_json, signed_server

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "colorapp"
MESHES = "/v20190125/meshes"
NODES = f"{MESHES}/m/virtualNodes"
ROUTES = f"{MESHES}/m/virtualRouter/r/routes"
MIB = 1024 * 1024


def raw(port: int, method: str, path: str, body: bytes | None, headers: dict | None = None):
    """(status, headers, body bytes) of one request, the body sent exactly as given.

    A body over the cap is announced but not sent: the server answers 413 from the head alone
    and closes, and a client still writing the body would see that close as a reset (a race
    that only shows under load) instead of the answer."""
    if body is not None and len(body) > MIB:
        return _head_only(port, method, path, len(body), headers or {})
    return http_call(port, method, path, body, headers, timeout=15)


def _head_only(port: int, method: str, path: str, length: int, headers: dict):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {"content-type": "application/json", **headers}.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def snapshot(port: int) -> dict:
    """Everything a client can read back: what a refused request must leave as it was."""
    out = {}
    for path in (MESHES, NODES, f"{MESHES}/m/virtualRouters", ROUTES):
        status, _, body = raw(port, "GET", path, None)
        assert status == 200, body
        out[path] = json.loads(body)
    return out


def route_spec(weight=1) -> dict:
    return {
        "httpRoute": {
            "match": {"prefix": "/"},
            "action": {"weightedTargets": [{"virtualNode": "colorteller-vn", "weight": weight}]},
        }
    }


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path / "mesh.db")
    running.start()
    try:
        client = running.boto3()
        client.create_mesh(meshName="m")
        client.create_virtual_node(meshName="m", **teller(""))
        listener = [{"portMapping": {"port": 9080, "protocol": "http"}}]
        client.create_virtual_router(
            meshName="m", virtualRouterName="r", spec={"listeners": listener}
        )
        client.create_route(meshName="m", virtualRouterName="r", routeName="rt", spec=route_spec())
        yield running
    finally:
        running.stop()


def deep(levels: int) -> bytes:
    return b'{"meshName": "deep", "spec": ' + b'{"a": ' * levels + b"1" + b"}" * levels + b"}"


# ~70 hostile bodies: wrong types, bounds, encodings, structure, sizes just under the cap.
HOSTILE: list[tuple[str, str, bytes]] = [
    ("PUT", MESHES, b""),
    ("PUT", MESHES, b"null"),
    ("PUT", MESHES, b"[]"),
    ("PUT", MESHES, b'"meshName"'),
    ("PUT", MESHES, b"{"),
    ("PUT", MESHES, b"\xff\xfe\x00"),
    ("PUT", MESHES, b'{"meshName": NaN}'),
    ("PUT", MESHES, b'{"meshName": Infinity}'),
    ("PUT", MESHES, b'{"meshName": 1e999999}'),
    ("PUT", MESHES, b'{"meshName": ' + b"9" * 5000 + b"}"),
    ("PUT", MESHES, b'{"meshName": "a\\u0000b"}'),
    ("PUT", MESHES, b'{"meshName": "\\ud800"}'),
    ("PUT", MESHES, b'{"meshName": "x", "meshName": "y"}'),
    ("PUT", MESHES, b'{"meshName": "' + b"a" * 256 + b'"}'),
    ("PUT", MESHES, b'{"meshName": "' + b"a" * (MIB - 100) + b'"}'),
    ("PUT", MESHES, b'{"meshName": "ok", "clientToken": "' + b"t" * (MIB - 100) + b'"}'),
    ("PUT", MESHES, b'{"meshName": "ok", "clientToken": "' + b"t" * 37 + b'"}'),
    ("PUT", MESHES, b'{"meshName": "ok", "clientToken": "a/b"}'),
    ("PUT", MESHES, b'{"meshName": "ok", "clientToken": 5}'),
    ("PUT", MESHES, b'{"meshName": "ok", "tags": [{"key": "' + b"k" * 129 + b'"}]}'),
    ("PUT", MESHES, b'{"meshName": "ok", "tags": [{"key": "k", "value": "' + b"v" * 257 + b'"}]}'),
    ("PUT", MESHES, b'{"meshName": "ok", "tags": {"key": "k"}}'),
    ("PUT", MESHES, b'{"meshName": "ok", "spec": {"egressFilter": {"type": "ALLOW_SOME"}}}'),
    ("PUT", MESHES, b'{"meshName": "ok", "spec": {"egressFilter": {"type": true}}}'),
    ("PUT", MESHES, b'{"meshName": "ok", "spec": []}'),
    ("PUT", MESHES, b'{"meshName": "ok", "unknown": 1}'),
    ("PUT", MESHES, b"[" * 100_000 + b"]" * 100_000),
    ("PUT", MESHES, deep(50_000)),
    ("PUT", MESHES, deep(900)),
    ("PUT", MESHES, b'{"meshName": ["' + b'", "'.join([b"x"] * 100_000) + b'"]}'),
    ("PUT", f"{MESHES}/m", b'{"spec": {"egressFilter": {"type": "ALLOW_ALL"}}, "x": 1}'),
    ("PUT", f"{MESHES}/{'a' * 300}", b"{}"),
    ("GET", f"{MESHES}/{'a' * 5000}", None),
    ("DELETE", f"{MESHES}/..%2F..%2Fetc", None),
    ("GET", f"{MESHES}/m?meshOwner=" + "1" * 13, None),
    ("GET", f"{MESHES}?limit=0", None),
    ("GET", f"{MESHES}?limit=true", None),
    ("GET", f"{MESHES}?limit=" + "9" * 5000, None),
    ("GET", f"{MESHES}?nextToken=!!!!", None),
    ("GET", f"{MESHES}?nextToken=" + "A" * 8000, None),
    ("GET", "/v20190125/tags?resourceArn=" + "a" * 8000, None),
    (
        "PUT",
        "/v20190125/untag?resourceArn=x",
        b'{"tagKeys": ["' + b'", "'.join([b"k"] * 51) + b'"]}',
    ),
    ("PUT", "/v20190125/tag?resourceArn=x", b'{"tags": "nope"}'),
    ("POST", "/proxyinit/v1/apply", b'{"not": "a list"}'),
    ("POST", "/proxyinit/v1/apply", b"[" * 100_000 + b"]" * 100_000),
    ("POST", "/proxyinit/v1/apply", b'[{"meshName": "m", "meshName": "n"}]'),
    ("POST", "/proxyinit/v1/apply", json.dumps([{"meshName": "m"}] * 2).encode()),
]
for weight in (True, False, "5", 5.0, -1, 101, 2**64, None, [], {}):
    HOSTILE.append(("PUT", f"{ROUTES}/rt", json.dumps({"spec": route_spec(weight)}).encode()))
for port in ("9080", True, 0, 65536, 9080.0, -9080):
    spec = {
        **teller("")["spec"],
        "listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
    }
    HOSTILE.append(("PUT", f"{NODES}/colorteller-vn", json.dumps({"spec": spec}).encode()))
for prefix in ("", "no-slash", "/" + "a" * 300, None, 7):
    spec = route_spec()
    spec["httpRoute"]["match"]["prefix"] = prefix
    HOSTILE.append(("PUT", f"{ROUTES}/rt", json.dumps({"spec": spec}).encode()))
for hostname in ("*", "a" * 254, "", "-x", "x y"):
    spec = {**teller("")["spec"], "serviceDiscovery": {"dns": {"hostname": hostname}}}
    HOSTILE.append(("PUT", f"{NODES}/colorteller-vn", json.dumps({"spec": spec}).encode()))


def test_hostile_bodies_are_4xx_and_change_nothing(server):
    assert len(HOSTILE) >= 70
    before = snapshot(server.api_port)
    for method, path, body in HOSTILE:
        status, headers, answer = raw(server.api_port, method, path, body)
        where = f"{method} {path[:60]} {(body or b'')[:60]!r}"
        assert 400 <= status < 500, (where, status, answer[:300])
        assert headers["x-amzn-errortype"].endswith("Exception"), where
        message = json.loads(answer)["message"]
        assert len(message) < 2000, (where, len(message))  # values are echoed shortened
    assert snapshot(server.api_port) == before
    assert rss_mib(server.process.pid) < 400


def test_oversized_requests_are_refused_from_the_head(server):
    """100 MB clientTokens were stored (315 MB of database, 853 MB of server memory)."""
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.api_port), timeout=10) as sock:
            sock.sendall(
                b"PUT /v20190125/meshes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 104857600\r\n\r\n" + b'{"meshName": "big", "clientToken": "'
            )
            head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 413"), head
    sent = stream_until_refused(server.api_port, 150 * MIB)
    assert sent < 150 * MIB  # refused while streaming, not after reading it all
    assert "big" not in json.dumps(snapshot(server.api_port))
    assert server.db.stat().st_size < 4 * MIB
    assert rss_mib(server.process.pid) < 400


def stream_until_refused(port: int, total: int) -> int:
    """Send a chunked body of `total` bytes until the server answers or closes; bytes sent."""
    sent = 0
    chunk = b"x" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"PUT /v20190125/meshes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < total:
                sock.sendall(b"10000\r\n" + chunk + b"\r\n")
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        else:
            sock.sendall(b"0\r\n\r\n")
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            answer = b"HTTP/1.1 413 (reset after the answer)"
    assert answer.startswith(b"HTTP/1.1 413"), answer
    return sent


def test_concurrent_creates_of_one_name_store_one_and_lose_none(server):
    """300 creates from 30 threads, 100 names three times each: every name once, a 200 or 409
    for each request, and after kill -9 every acknowledged one is still there."""
    names = [f"c{i}" for i in range(100)] * 3

    def create(name: str) -> tuple[str, int]:
        status, _, _ = raw(server.api_port, "PUT", NODES, node_body(name))
        return name, status

    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        results = list(pool.map(create, names))
    assert {status for _, status in results} <= {200, 409}
    created = [name for name, status in results if status == 200]
    assert sorted(created) == sorted(set(names))
    server.kill9()
    server.start()
    stored = {
        n["virtualNodeName"]
        for n in server.boto3().list_virtual_nodes(meshName="m")["virtualNodes"]
    }
    assert set(created) <= stored


def node_body(name: str) -> bytes:
    spec = {**teller("")["spec"], "serviceDiscovery": {"dns": {"hostname": f"{name}.local"}}}
    return json.dumps({"virtualNodeName": name, "spec": spec}).encode()


def test_kill9_during_a_write_burst_loses_no_acknowledged_write(server):
    acked: dict[str, int] = {}
    stop = threading.Event()

    def writer(index: int) -> None:
        weight = 0
        while not stop.is_set():
            weight = weight % 100 + 1
            try:
                status, _, body = raw(
                    server.api_port,
                    "PUT",
                    f"{ROUTES}/rt",
                    json.dumps({"spec": route_spec(weight)}).encode(),
                )
                if status == 200:
                    acked["rt"] = max(acked.get("rt", 0), json.loads(body)["metadata"]["version"])
                status, _, _ = raw(server.api_port, "PUT", NODES, node_body(f"w{index}-{weight}"))
                if status == 200:
                    acked[f"w{index}-{weight}"] = 1
            except (OSError, http.client.HTTPException):
                return  # the server is gone

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(acked) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.process.send_signal(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(20)
    server.process.wait(10)
    server.stop()
    assert len(acked) >= 20, "the burst did not get going"
    server.start()
    client = server.boto3()
    version = client.describe_route(meshName="m", virtualRouterName="r", routeName="rt")["route"][
        "metadata"
    ]["version"]
    assert version >= acked.pop("rt")
    stored = {n["virtualNodeName"] for n in client.list_virtual_nodes(meshName="m")["virtualNodes"]}
    assert set(acked) <= stored


def test_slow_clients_do_not_hold_up_the_others(server):
    """Connections that send half a head or half a body, and never the rest."""
    slow = []
    try:
        for index in range(40):
            sock = socket.create_connection(("127.0.0.1", server.api_port), timeout=10)
            if index % 2:
                sock.sendall(b"PUT /v20190125/meshes HTTP/1.1\r\nHost: x\r\nContent-Le")
            else:
                sock.sendall(
                    b"PUT /v20190125/meshes HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
                )
            slow.append(sock)
        client = server.boto3()
        client.create_mesh(meshName="while-slow")
        assert "while-slow" in {m["meshName"] for m in client.list_meshes()["meshes"]}
    finally:
        for sock in slow:
            sock.close()


@pytest.fixture(name="signed_server")
def signed_server_fixture(tmp_path):
    with signed_server(tmp_path) as running:
        yield running


def test_sigv4_tampering_is_refused_and_a_replay_with_a_client_token_is_a_no_op(signed_server):
    url = signed_server.url + MESHES
    body = json.dumps({"meshName": "signed", "clientToken": "replay-guard-1"}).encode()
    headers = signed_json(url, body)
    port = signed_server.api_port
    tampered = [
        (MESHES, body.replace(b"signed", b"evil!!"), headers),
        (MESHES + "?x=1", body, headers),
        (f"{MESHES}/", body, headers),
        (MESHES, body, {**headers, "X-Amz-Date": headers["X-Amz-Date"][:-3] + "00Z"}),
        (MESHES, body, {**headers, "Host": "evil.example"}),
        (MESHES, body, signed_json(url, body, service="s3")),
        (MESHES, body, signed_json(url, body, region="us-east-1")),
        (MESHES, body, {k: v for k, v in headers.items() if k != "Authorization"}),
        (MESHES, b"x" * (2 * MIB), headers),
    ]
    for path, sent, sent_headers in tampered:
        status, answer_headers, answer = raw(port, "PUT", path, sent, sent_headers)
        assert status in (400, 403, 404, 413), (path, status, answer)
        assert answer_headers["x-amzn-errortype"].endswith("Exception")
    assert signed_server.boto3().list_meshes()["meshes"] == []
    # The untouched request, sent three times within the 15 minutes: one mesh, version 1.
    answers = [raw(port, "PUT", MESHES, body, headers) for _ in range(3)]
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert {json.loads(a)["metadata"]["uid"] for _, _, a in answers} == {
        json.loads(answers[0][2])["metadata"]["uid"]
    }
    mesh = signed_server.boto3().describe_mesh(meshName="signed")["mesh"]
    assert mesh["metadata"]["version"] == 1


def test_a_second_server_through_a_symlinked_db_exits_2(server, tmp_path):
    link = tmp_path / "link.db"
    link.symlink_to(server.db)
    flags = ("--api", f"127.0.0.1:{free_port()}", "--xds", f"127.0.0.1:{free_port()}")
    done = run(serve_command(*flags, db=link))
    assert done.returncode == 2, done.stderr
    assert "proxyinit: error:" in done.stderr and "in use by another process" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_replayed_older_signed_update_does_not_revert_a_newer_one(signed_server):
    port, path = signed_server.api_port, f"{MESHES}/guarded"
    signed_server.boto3().create_mesh(meshName="guarded")

    def signed_update(egress: str, token: str) -> tuple[bytes, dict]:
        spec = {"egressFilter": {"type": egress}}
        body = json.dumps({"spec": spec, "clientToken": token}).encode()
        url = signed_server.url + path
        return body, signed_json(url, body)

    captured = signed_update("ALLOW_ALL", "update-1")
    assert raw(port, "PUT", path, *captured)[0] == 200
    assert raw(port, "PUT", path, *signed_update("DROP_ALL", "update-2"))[0] == 200
    status, _, answer = raw(port, "PUT", path, *captured)  # the capture, replayed
    assert status == 200 and json.loads(answer)["metadata"]["version"] == 2
    mesh = signed_server.boto3().describe_mesh(meshName="guarded")["mesh"]
    assert (mesh["spec"]["egressFilter"]["type"], mesh["metadata"]["version"]) == ("DROP_ALL", 3)
