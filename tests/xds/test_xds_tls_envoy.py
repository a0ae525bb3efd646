"""Issue 9 TLS through a real Envoy on loopback, with certificates the test generates: a STRICT
listener refuses plaintext, PERMISSIVE takes TLS and plaintext on one port, mutual TLS refuses a
client without a certificate and one whose SAN is not listed; a client policy originates TLS
(with the node's certificate) to a backend; `sds` names and ACM ARNs are served over ADS from
the control plane's `--certs` directory; a certificate that is not there fails closed; a virtual
gateway's STRICT listener and its backendDefaults client policy do the same.

As in test_xds_parity_envoy.py: the ingress listener is moved to 127.0.0.3:<app port>, the app
answers on 127.0.0.1:<app port>; target nodes' DNS hostname is 127.0.0.2.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import threading

import pytest

from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds import types
from tests.support.certs import TestCa
from tests.support.loopback import free_port, loopback_translator
from tests.xds.test_xds_parity_envoy import (
    TARGET_HOST,
    _eventually,
    _ingress_on,
    _node,
    running_node,
    serving,
)

pytestmark = pytest.mark.envoy

MESH = "parity"
SERVER_SAN = "color.tls.local"
CLIENT_SAN = "front.tls.local"


def _file(leaf) -> dict:
    return {"file": {"certificateChain": str(leaf.chain), "privateKey": str(leaf.key)}}


def _request(port: int, context: ssl.SSLContext | None) -> int | None:
    """One GET to 127.0.0.3:port (TLS when `context`); the status, or None if refused."""
    try:
        with socket.create_connection(("127.0.0.3", port), timeout=3) as raw:
            sock = raw if context is None else context.wrap_socket(raw, server_hostname=SERVER_SAN)
            with sock:
                sock.sendall(b"GET / HTTP/1.1\r\nhost: color\r\nconnection: close\r\n\r\n")
                head = sock.recv(64)
    except (OSError, ssl.SSLError):
        return None
    parts = head.split()
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else None


def _client(ca: TestCa, leaf=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.path))
    if leaf is not None:
        context.load_cert_chain(str(leaf.chain), str(leaf.key))
    return context


@contextlib.asynccontextmanager
async def _color(tmp_path, envoy, tls: dict, certs=None):
    """color-vn with one http listener whose `tls` is `tls`, its app answering 200; `certs`:
    the control plane's `--certs` directory."""
    port = free_port()
    resources = [{"meshName": MESH}, _node("color-vn", port, tls=tls)]
    with serving("127.0.0.1", port):
        async with running_node(
            tmp_path,
            envoy,
            resources,
            f"mesh/{MESH}/virtualNode/color-vn",
            _ingress_on(port),
            certs=certs,
        ):
            yield port


async def _answers(port: int, context) -> int | None:
    async def check():
        return await asyncio.to_thread(_request, port, context)

    return await _eventually(check, timeout=10)


async def test_strict_takes_tls_and_refuses_plaintext(tmp_path, envoy, ca):
    tls = {"mode": "STRICT", "certificate": _file(ca.leaf("color", SERVER_SAN))}
    async with _color(tmp_path, envoy, tls) as port:
        assert await _answers(port, _client(ca)) == 200
        assert await asyncio.to_thread(_request, port, None) is None


async def test_permissive_takes_tls_and_plaintext_on_one_port(tmp_path, envoy, ca):
    tls = {"mode": "PERMISSIVE", "certificate": _file(ca.leaf("color", SERVER_SAN))}
    async with _color(tmp_path, envoy, tls) as port:
        assert await _answers(port, _client(ca)) == 200
        assert await asyncio.to_thread(_request, port, None) == 200


async def test_mutual_tls_refuses_no_certificate_and_an_unlisted_san(tmp_path, envoy, ca):
    tls = {
        "mode": "STRICT",
        "certificate": _file(ca.leaf("color", SERVER_SAN)),
        "validation": {
            "trust": {"file": {"certificateChain": str(ca.path)}},
            "subjectAlternativeNames": {"match": {"exact": [CLIENT_SAN]}},
        },
    }
    good, stranger = ca.leaf("front", CLIENT_SAN), ca.leaf("stranger", "stranger.tls.local")
    async with _color(tmp_path, envoy, tls) as port:
        assert await _answers(port, _client(ca, good)) == 200
        assert await asyncio.to_thread(_request, port, _client(ca)) is None
        assert await asyncio.to_thread(_request, port, _client(ca, stranger)) is None
        # A certificate from another CA is refused too, whatever its SAN.
        other = TestCa(envoy.workdir, "other CA").leaf("forged", CLIENT_SAN)
        assert await asyncio.to_thread(_request, port, _client(ca, other)) is None


async def test_sds_certificate_not_served_fails_closed(tmp_path, envoy, ca):
    tls = {"mode": "PERMISSIVE", "certificate": {"sds": {"secretName": "color-cert"}}}
    async with _color(tmp_path, envoy, tls) as port:
        assert await _eventually(lambda: _listed(envoy), timeout=10)
        assert await asyncio.to_thread(_request, port, None) is None
        assert await asyncio.to_thread(_request, port, _client(ca)) is None


@pytest.fixture
def certs(tmp_path, ca):
    """The `--certs` directory: `<id>.pem` + `<id>.key` per certificate, `<id>.pem` per CA."""
    directory = tmp_path / "certs"
    directory.mkdir()
    shutil.copy(ca.path, directory / "mesh-ca.pem")
    for cert_id in ("color-cert", "0a1b2c3d-acm-id"):
        leaf = ca.leaf(cert_id, SERVER_SAN)
        shutil.copy(leaf.chain, directory / f"{cert_id}.pem")
        shutil.copy(leaf.key, directory / f"{cert_id}.key")
    return directory


async def test_sds_certificate_and_trust_are_served_over_ads_for_mutual_tls(
    tmp_path, envoy, ca, certs
):
    tls = {
        "mode": "STRICT",
        "certificate": {"sds": {"secretName": "color-cert"}},
        "validation": {
            "trust": {"sds": {"secretName": "mesh-ca"}},
            "subjectAlternativeNames": {"match": {"exact": [CLIENT_SAN]}},
        },
    }
    good, stranger = ca.leaf("front", CLIENT_SAN), ca.leaf("stranger", "stranger.tls.local")
    async with _color(tmp_path, envoy, tls, certs) as port:
        assert await _answers(port, _client(ca, good)) == 200
        assert await asyncio.to_thread(_request, port, None) is None
        assert await asyncio.to_thread(_request, port, _client(ca, stranger)) is None
        status, body = await envoy.admin_get("/certs")
    assert status == 200 and SERVER_SAN in body.decode(), body


async def test_acm_certificate_arn_is_served_from_the_certs_directory(tmp_path, envoy, ca, certs):
    arn = "arn:aws:acm:us-west-2:111122223333:certificate/0a1b2c3d-acm-id"
    tls = {"mode": "STRICT", "certificate": {"acm": {"certificateArn": arn}}}
    async with _color(tmp_path, envoy, tls, certs) as port:
        assert await _answers(port, _client(ca)) == 200
        assert await asyncio.to_thread(_request, port, None) is None


async def test_acm_certificate_missing_from_the_certs_directory_fails_closed_until_added(
    tmp_path, envoy, ca, certs
):
    arn = "arn:aws:acm:us-west-2:111122223333:certificate/added-later"
    tls = {"mode": "PERMISSIVE", "certificate": {"acm": {"certificateArn": arn}}}
    async with _color(tmp_path, envoy, tls, certs) as port:
        assert await _eventually(lambda: _listed(envoy), timeout=10)
        assert await asyncio.to_thread(_request, port, None) is None
        assert await asyncio.to_thread(_request, port, _client(ca)) is None
        # The operator adds the PEMs: the control plane notices and serves them, no mesh edit.
        leaf = ca.leaf("added-later", SERVER_SAN)
        shutil.copy(leaf.key, certs / "added-later.key")
        shutil.copy(leaf.chain, certs / "added-later.pem")
        assert await _answers(port, _client(ca)) == 200
        assert await asyncio.to_thread(_request, port, None) == 200  # PERMISSIVE


async def _listed(envoy):
    status, body = await envoy.admin_get("/listeners")
    return status == 200 and b"ingress" in body


@contextlib.contextmanager
def _tls_app(port: int, server, ca: TestCa):
    """TARGET_HOST:port speaking TLS with `server`, requiring a client certificate from `ca`;
    records the client SANs it saw."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(server.chain), str(server.key))
    context.load_verify_locations(str(ca.path))
    context.verify_mode = ssl.CERT_REQUIRED
    seen: list[str] = []
    listener = socket.create_server((TARGET_HOST, port))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.settimeout(3)
                    seen.extend(v for k, v in conn.getpeercert().get("subjectAltName", ()))
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _front_with_client_policy(port: int, ca: TestCa, client, san: str) -> list[dict]:
    service = "color.parity.local"
    front = _node("front-vn", free_port())
    policy = {
        "tls": {
            "certificate": _file(client),
            "validation": {
                "trust": {"file": {"certificateChain": str(ca.path)}},
                "subjectAlternativeNames": {"match": {"exact": [san]}},
            },
        }
    }
    front["spec"]["backendDefaults"] = {"clientPolicy": policy}
    front["spec"]["backends"] = [{"virtualService": {"virtualServiceName": service}}]
    return [
        {"meshName": MESH},
        front,
        _node("color-vn", port),
        {
            "meshName": MESH,
            "virtualServiceName": service,
            "spec": {"provider": {"virtualNode": {"virtualNodeName": "color-vn"}}},
        },
    ]


def _plain_get(port: int) -> int | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: color.parity.local\r\nconnection: close\r\n\r\n")
            head = sock.recv(64)
    except OSError:
        return None
    parts = head.split()
    return int(parts[1]) if len(parts) > 1 else None


@pytest.mark.parametrize(("san", "want"), [(SERVER_SAN, 200), ("someone.else.local", 503)])
async def test_client_policy_originates_mutual_tls_and_checks_the_san(
    tmp_path, envoy, ca, san, want
):
    port = free_port()
    client = ca.leaf("front", CLIENT_SAN)
    resources = _front_with_client_policy(port, ca, client, san)
    node = f"mesh/{MESH}/virtualNode/front-vn"
    with _tls_app(port, ca.leaf("color", SERVER_SAN), ca) as seen:
        async with running_node(tmp_path, envoy, resources, node, loopback_translator(egress=port)):

            async def check():
                return await asyncio.to_thread(_plain_get, port)

            assert await _eventually(check, timeout=10) == want
    if want == 200:
        assert CLIENT_SAN in seen, seen  # Envoy presented the node's client certificate


def _gateway_on_loopback(model, node, **options):
    resources = translate_node(model, node, **options)
    for listener in resources[types.LISTENER]:
        listener.address.socket_address.address = "127.0.0.3"  # where _request connects
    return resources


async def test_gateway_strict_listener_and_mutual_tls_to_its_backend(tmp_path, envoy, ca):
    gateway_port, app_port = free_port(), free_port()
    resources = _front_with_client_policy(app_port, ca, ca.leaf("front", CLIENT_SAN), SERVER_SAN)
    policy = resources[1]["spec"]["backendDefaults"]
    resources[1] = {  # the front node becomes a gateway with the same backendDefaults
        "meshName": MESH,
        "virtualGatewayName": "ingress-gw",
        "spec": {
            "listeners": [
                {
                    "portMapping": {"port": gateway_port, "protocol": "http"},
                    "tls": {"mode": "STRICT", "certificate": _file(ca.leaf("gw", SERVER_SAN))},
                }
            ],
            "backendDefaults": policy,
        },
    }
    resources.append(
        {
            "meshName": MESH,
            "virtualGatewayName": "ingress-gw",
            "gatewayRouteName": "all",
            "spec": {
                "httpRoute": {
                    "match": {"prefix": "/"},
                    "action": {
                        "target": {"virtualService": {"virtualServiceName": "color.parity.local"}}
                    },
                }
            },
        }
    )
    node = f"mesh/{MESH}/virtualGateway/ingress-gw"
    with _tls_app(app_port, ca.leaf("color", SERVER_SAN), ca) as seen:
        async with running_node(tmp_path, envoy, resources, node, _gateway_on_loopback):
            assert await _answers(gateway_port, _client(ca)) == 200
            assert await asyncio.to_thread(_request, gateway_port, None) is None
    assert CLIENT_SAN in seen, seen
