"""Listener TLS and client policies on tcp listeners, through a real Envoy on loopback (issue 9):
a STRICT tcp listener refuses plaintext and carries bytes over TLS to its app; a caller with a
client policy originates TLS to a tcp backend (the backend's app speaks TLS and echoes).

As in test_xds_tls_envoy.py: the ingress listener is moved to 127.0.0.3:<app port>, the app
listens on 127.0.0.1:<app port>; target nodes' DNS hostname is 127.0.0.2 (TARGET_HOST).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading

import pytest

from tests.support.certs import TestCa
from tests.support.loopback import free_port, loopback_translator
from tests.xds.test_xds_parity_envoy import TARGET_HOST, _eventually, _ingress_on, running_node
from tests.xds.test_xds_tls_envoy import CLIENT_SAN, MESH, SERVER_SAN, _client, _file

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(60)]

SERVICE = "db.parity.local"


def _tcp_node(name: str, port: int, **listener) -> dict:
    return {
        "meshName": MESH,
        "virtualNodeName": name,
        "spec": {
            "listeners": [{"portMapping": {"port": port, "protocol": "tcp"}, **listener}],
            "serviceDiscovery": {"dns": {"hostname": TARGET_HOST}},
        },
    }


@contextlib.contextmanager
def _echo(host: str, port: int, context: ssl.SSLContext | None = None):
    """An app on host:port echoing what it reads once (over TLS with `context`)."""
    listener = socket.create_server((host, port))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                continue
            try:
                conn = raw if context is None else context.wrap_socket(raw, server_side=True)
                with conn:
                    conn.settimeout(3)
                    conn.sendall(b"echo:" + conn.recv(4096))
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _exchange(host: str, port: int, context: ssl.SSLContext | None) -> bytes | None:
    """Send `ping` (over TLS with `context`); what came back, or None if refused or closed."""
    try:
        with socket.create_connection((host, port), timeout=3) as raw:
            sock = raw if context is None else context.wrap_socket(raw, server_hostname=SERVER_SAN)
            with sock:
                sock.sendall(b"ping")
                return sock.recv(64) or None
    except (OSError, ssl.SSLError):
        return None


async def test_strict_tcp_listener_refuses_plaintext_and_carries_tls(tmp_path, envoy, ca):
    port = free_port()
    tls = {"mode": "STRICT", "certificate": _file(ca.leaf("db", SERVER_SAN))}
    resources = [{"meshName": MESH}, _tcp_node("db-vn", port, tls=tls)]
    node = f"mesh/{MESH}/virtualNode/db-vn"
    with _echo("127.0.0.1", port):
        async with running_node(tmp_path, envoy, resources, node, _ingress_on(port)):

            async def over_tls():
                return await asyncio.to_thread(_exchange, "127.0.0.3", port, _client(ca))

            assert await _eventually(over_tls, timeout=10) == b"echo:ping"
            assert await asyncio.to_thread(_exchange, "127.0.0.3", port, None) is None


def _tls_server(ca: TestCa) -> ssl.SSLContext:
    """The backend app's TLS: its certificate, a client certificate from `ca` required."""
    server = ca.leaf("db", SERVER_SAN)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(server.chain), str(server.key))
    context.load_verify_locations(str(ca.path))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


async def test_client_policy_originates_tls_to_a_tcp_backend(tmp_path, envoy, ca):
    port = free_port()
    policy = {
        "tls": {
            "certificate": _file(ca.leaf("front", CLIENT_SAN)),
            "validation": {
                "trust": {"file": {"certificateChain": str(ca.path)}},
                "subjectAlternativeNames": {"match": {"exact": [SERVER_SAN]}},
            },
        }
    }
    front = {
        "meshName": MESH,
        "virtualNodeName": "front-vn",
        "spec": {
            "backends": [
                {"virtualService": {"virtualServiceName": SERVICE, "clientPolicy": policy}}
            ]
        },
    }
    resources = [
        {"meshName": MESH},
        front,
        _tcp_node("db-vn", port),
        {
            "meshName": MESH,
            "virtualServiceName": SERVICE,
            "spec": {"provider": {"virtualNode": {"virtualNodeName": "db-vn"}}},
        },
    ]
    node = f"mesh/{MESH}/virtualNode/front-vn"
    with _echo(TARGET_HOST, port, _tls_server(ca)):
        async with running_node(tmp_path, envoy, resources, node, loopback_translator(egress=port)):

            async def plain_to_egress():
                return await asyncio.to_thread(_exchange, "127.0.0.1", port, None)

            assert await _eventually(plain_to_egress, timeout=10) == b"echo:ping"
