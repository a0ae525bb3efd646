"""Issue 11 part 2, who may ask for what: xDS clients authenticated by a client certificate (its
SPIFFE id names the node) and/or a token, over real gRPC against a real ControlPlane; a
credential for node A never gets anything of node B (no resource, no secret). Certificates are
generated per test (tests/support/certs.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from proxyinit.controlplane.cli import _warn_if_exposed
from proxyinit.controlplane.meshfile_source import FileMeshSource
from proxyinit.controlplane.plane import ControlPlane
from proxyinit.controlplane.xds_auth import NodeAuthorizer, XdsAuthSettings, check_exposure
from proxyinit.errors import ConfigError
from proxyinit.xds import types
from proxyinit.xds.auth import PeerCredentials, PermissionDenied
from proxyinit.xds.endpoint import Endpoint
from tests.support.certs import Leaf, TestCa
from tests.support.loopback import loopback_translator
from tests.xds.conftest import AdsClient

MESH = "auth"
A = f"mesh/{MESH}/virtualNode/a-vn"
B = f"mesh/{MESH}/virtualNode/b-vn"
TD = "td.test"
B_SECRET = "certificate/b-cert"
TOKEN_A, TOKEN_B = "a" * 8 + "-token-of-node-a", "b" * 8 + "-token-of-node-b"
DENIED = grpc.StatusCode.PERMISSION_DENIED


def spiffe(node: str, domain: str = TD) -> str:
    return f"spiffe://{domain}/{node}"


@dataclass
class Pki:
    ca: TestCa
    server: Leaf
    a: Leaf
    b: Leaf
    certs: Path  # the control plane's --certs: B's listener certificate, served over SDS
    b_key: bytes  # the private key of that certificate: must reach no one but B

    def mtls(self, **more) -> XdsAuthSettings:
        return XdsAuthSettings(
            tls_cert=str(self.server.chain),
            tls_key=str(self.server.key),
            client_ca=str(self.ca.path),
            trust_domain=TD,
            **more,
        )


def make_pki(directory: Path) -> Pki:
    """Files readable by Envoy's uid when `directory` is (an EnvoyProcess's workdir)."""
    ca = TestCa(directory)
    certs = directory / "certs"
    certs.mkdir()
    certs.chmod(0o755)
    secret = TestCa(certs, "secret CA").leaf("b-cert", "b.test")
    return Pki(
        ca,
        ca.leaf("xds-server", "xds.test", ips=["127.0.0.1"]),
        ca.leaf("a", "a.test", uris=[spiffe(A)]),
        ca.leaf("b", "b.test", uris=[spiffe(B)]),
        certs,
        secret.key.read_bytes(),
    )


def mesh_resources() -> list[dict]:
    def node(name: str, **listener) -> dict:
        return {
            "meshName": MESH,
            "virtualNodeName": name,
            "spec": {
                "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}, **listener}],
                "serviceDiscovery": {"dns": {"hostname": f"{name}.local"}},
            },
        }

    b_tls = {"mode": "STRICT", "certificate": {"sds": {"secretName": "b-cert"}}}
    return [{"meshName": MESH}, node("a-vn"), node("b-vn", tls=b_tls)]


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, pki: Pki, auth: XdsAuthSettings):
    mesh_file = tmp_path / "mesh.json"
    mesh_file.write_text(json.dumps(mesh_resources()))
    plane = ControlPlane(
        Endpoint("127.0.0.1", 0),
        mesh_file=FileMeshSource(mesh_file, interval=0.05),
        debug=Endpoint("127.0.0.1", 0),
        translate=loopback_translator(),
        certs=str(pki.certs),
        xds_auth=auth,
    )
    async with plane:
        assert plane.cache.get_snapshot(B).resources(types.SECRET)  # B does have a secret
        yield plane


@pytest.fixture
def pki(tmp_path) -> Pki:
    return make_pki(tmp_path)


@pytest.fixture
async def channels():
    opened: list[tuple[grpc.aio.Channel, list[AdsClient]]] = []

    def open_channel(port: int, pki: Pki | None = None, leaf: Leaf | None = None):
        if pki is None:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        else:
            credentials = grpc.ssl_channel_credentials(
                pki.ca.path.read_bytes(),
                leaf.key.read_bytes() if leaf else None,
                leaf.chain.read_bytes() if leaf else None,
            )
            channel = grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials)
        clients: list[AdsClient] = []
        opened.append((channel, clients))

        def stream(node: str, metadata=None) -> AdsClient:
            client = AdsClient(channel, node, metadata)
            clients.append(client)
            return client

        return stream

    yield open_channel
    for channel, clients in opened:
        for client in clients:
            await client.close()
        await channel.close()


async def drain(client: AdsClient, timeout: float = 3.0):
    """Every response until the call ends: (responses, the error ending it or None)."""
    responses = []
    try:
        while True:
            responses.append(await client.read(timeout))
    except grpc.aio.AioRpcError as err:
        return responses, err
    except TimeoutError:
        return responses, None


def nothing_of_b(responses, pki: Pki) -> bool:
    return not any(
        b"b-vn" in r.SerializeToString() or r.type_url == types.SECRET for r in responses
    ) and not any(pki.b_key.strip() in r.SerializeToString() for r in responses)


async def test_node_a_certificate_gets_a_and_nothing_of_b(tmp_path, pki, channels, caplog):
    async with serving(tmp_path, pki, pki.mtls()) as plane:
        stream = channels(plane.xds_port, pki, pki.a)
        mine = stream(A)
        await mine.send(types.CLUSTER)
        assert (await mine.read()).resources
        for type_url, names in ((types.CLUSTER, ()), (types.SECRET, [B_SECRET])):
            theirs = stream(B)
            await theirs.send(type_url, names)
            responses, err = await drain(theirs)
            assert err is not None and err.code() == DENIED, err
            assert responses == [] and nothing_of_b(responses, pki)
        assert f"asks for node {B}, its certificate names {A}" in caplog.text


async def test_a_later_request_naming_another_node_ends_the_stream(tmp_path, pki, channels):
    async with serving(tmp_path, pki, pki.mtls()) as plane:
        client = channels(plane.xds_port, pki, pki.a)(A)
        await client.send(types.CLUSTER)
        first = await client.read()
        await client.ack(first)
        await client.send(types.SECRET, [B_SECRET], node_id=B)
        responses, err = await drain(client)
        assert err is not None and err.code() == DENIED and A in err.details(), err
        assert nothing_of_b([first, *responses], pki)


@pytest.mark.parametrize("who", ["no certificate", "another CA", "another trust domain"])
async def test_a_client_without_a_good_certificate_gets_nothing(tmp_path, pki, channels, who):
    leaf = {
        "no certificate": None,
        "another CA": TestCa(tmp_path, "other CA").leaf("forged", "a.test", uris=[spiffe(A)]),
        "another trust domain": pki.ca.leaf("td", "a.test", uris=[spiffe(A, "evil.test")]),
    }[who]
    async with serving(tmp_path, pki, pki.mtls()) as plane:
        client = channels(plane.xds_port, pki, leaf)(A)
        with contextlib.suppress(grpc.aio.AioRpcError):  # the handshake may refuse the write
            await client.send(types.CLUSTER)
        responses, err = await drain(client)
        assert responses == [] and err is not None
        # No certificate / an unknown CA: the TLS handshake fails; a good CA, wrong domain: 403.
        expected = DENIED if who == "another trust domain" else grpc.StatusCode.UNAVAILABLE
        assert err.code() == expected, err


def write_tokens(path: Path, lines: str) -> str:
    path.write_text(lines)
    return str(path)


@pytest.mark.parametrize(
    "metadata, node, allowed",
    [
        ([("authorization", f"Bearer {TOKEN_A}")], A, True),
        ([("x-proxyinit-token", TOKEN_A)], A, True),
        ([("authorization", f"Bearer {TOKEN_A}x")], A, False),
        (None, A, False),
        ([("authorization", TOKEN_A)], A, False),  # no scheme
        ([("authorization", f"Bearer {TOKEN_A}")], B, False),
    ],
)
async def test_tokens(tmp_path, pki, channels, metadata, node, allowed):
    tokens = write_tokens(tmp_path / "tokens", f"# node token\n{A} {TOKEN_A}\n{B} {TOKEN_B}\n")
    async with serving(tmp_path, pki, XdsAuthSettings(tokens=tokens)) as plane:
        client = channels(plane.xds_port)(node, metadata)
        await client.send(types.CLUSTER)
        responses, err = await drain(client, timeout=1.0 if allowed else 3.0)
        if allowed:
            assert err is None and len(responses) == 1 and responses[0].resources
        else:
            assert err is not None and err.code() == DENIED and responses == [], err
            assert nothing_of_b(responses, pki)


async def test_the_debug_endpoint_shows_no_secret(tmp_path, pki, channels):
    async with serving(tmp_path, pki, pki.mtls()) as plane:
        client = channels(plane.xds_port, pki, pki.b)(B)
        await client.send(types.SECRET, [B_SECRET])
        secret = await client.read()
        assert pki.b_key.strip() in secret.SerializeToString()  # B gets its own secret
        url = f"http://127.0.0.1:{plane.debug_server.port}/"
        page = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
        assert B.encode() in page and b"PRIVATE KEY" not in page
        assert not any(line in page for line in pki.b_key.splitlines()[1:-1])


# --- the App Mesh mapping (pure) ----------------------------------------------------------------


def peer(**fields) -> PeerCredentials:
    return PeerCredentials(address="ipv4:127.0.0.1:1", **fields)


def allowed(authorize, credentials: PeerCredentials, node: str) -> bool:
    try:
        authorize(credentials, node)
    except PermissionDenied:
        return False
    return True


def test_certificate_names_its_node_by_spiffe_id_or_common_name(tmp_path):
    by_domain = NodeAuthorizer(XdsAuthSettings(client_ca="ca.pem", trust_domain=TD))
    anywhere = NodeAuthorizer(XdsAuthSettings(client_ca="ca.pem"))
    for authorize in (by_domain, anywhere):
        assert allowed(authorize, peer(uri_sans=(spiffe(A),)), A)
        assert not allowed(authorize, peer(uri_sans=(spiffe(A),)), B)
        assert not allowed(authorize, peer(uri_sans=(spiffe(A), spiffe(B))), A)  # ambiguous
        assert not allowed(authorize, peer(), A)
    assert not allowed(by_domain, peer(uri_sans=(spiffe(A, "x.test"),)), A)
    assert allowed(anywhere, peer(uri_sans=(spiffe(A, "x.test"),)), A)
    # The common name counts only without a trust domain, and only if no SPIFFE id is there.
    assert allowed(anywhere, peer(common_names=(A,)), A)
    assert not allowed(by_domain, peer(common_names=(A,)), A)
    assert not allowed(anywhere, peer(common_names=(A,), uri_sans=(spiffe(B),)), A)
    assert not allowed(anywhere, peer(common_names=("a.test",)), A)


def test_certificate_and_token_together_must_both_name_the_node(tmp_path):
    tokens = write_tokens(tmp_path / "tokens", f"{A} {TOKEN_A}\n{B} {TOKEN_B}\n")
    authorize = NodeAuthorizer(XdsAuthSettings(client_ca="ca.pem", tokens=tokens))
    bearer = {"authorization": f"Bearer {TOKEN_A}"}
    assert allowed(authorize, peer(uri_sans=(spiffe(A),), metadata=bearer), A)
    assert not allowed(authorize, peer(uri_sans=(spiffe(A),)), A)
    assert not allowed(authorize, peer(metadata=bearer), A)
    wrong = {"authorization": f"Bearer {TOKEN_B}"}
    assert not allowed(authorize, peer(uri_sans=(spiffe(A),), metadata=wrong), A)


def test_a_changed_token_file_is_read_again_and_a_bad_edit_keeps_the_old_tokens(tmp_path, caplog):
    path = tmp_path / "tokens"
    authorize = NodeAuthorizer(XdsAuthSettings(tokens=write_tokens(path, f"{A} {TOKEN_A}\n")))
    assert allowed(authorize, peer(metadata={"x-proxyinit-token": TOKEN_A}), A)
    write_tokens(path, f"{A} {TOKEN_B}-rotated\n")
    assert not allowed(authorize, peer(metadata={"x-proxyinit-token": TOKEN_A}), A)
    assert allowed(authorize, peer(metadata={"x-proxyinit-token": f"{TOKEN_B}-rotated"}), A)
    with caplog.at_level(logging.ERROR):
        write_tokens(path, f"{A}\n")
        assert allowed(authorize, peer(metadata={"x-proxyinit-token": f"{TOKEN_B}-rotated"}), A)
    assert "line 1" in caplog.text


@pytest.mark.parametrize(
    "content, message",
    [
        (f"{A}\n", "line 1: expected `NODE_ID TOKEN`, got 1 field(s)"),
        (f"# c\n\nmesh/auth/nope {TOKEN_A}\n", "line 3: 'mesh/auth/nope' is not mesh/"),
        (f"{A} short\n", "line 1: the token is shorter than 16 characters"),
        (f"{A} {TOKEN_A}\n{B} {TOKEN_A}\n", "line 2: the same token is given to another node"),
        ("# nothing\n", "no tokens in it"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_token_files_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "tokens"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError) as caught:
        NodeAuthorizer(XdsAuthSettings(tokens=str(path)))
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_secrets_on_an_unauthenticated_non_loopback_xds_are_refused(caplog):
    exposed, loopback = Endpoint("198.18.0.1", 15010), Endpoint("127.0.0.1", 15010)
    with pytest.raises(ConfigError) as caught:
        check_exposure(exposed, XdsAuthSettings(), "/certs")
    assert "--certs" in str(caught.value) and "--xds-client-ca" in str(caught.value)
    check_exposure(loopback, XdsAuthSettings(), "/certs")
    check_exposure(exposed, XdsAuthSettings(client_ca="ca.pem"), "/certs")
    check_exposure(exposed, XdsAuthSettings(), None)


def test_an_unauthenticated_non_loopback_xds_or_api_is_warned_about(caplog):
    exposed, api = Endpoint("198.18.0.1", 15010), Endpoint("198.18.0.1", 8080)
    with caplog.at_level(logging.WARNING):
        _warn_if_exposed(exposed, None, api)
    assert "--xds 198.18.0.1:15010 is not loopback" in caplog.text
    assert "--api 198.18.0.1:8080 is not loopback" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _warn_if_exposed(exposed, None, api, xds_authenticated=True, api_authenticated=True)
    assert caplog.text == ""
