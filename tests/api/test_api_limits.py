"""Request limits against the real server: the body cap (before anything reads the body), the
string bounds App Mesh documents (clientToken included), and exact JSON types.

Every refusal here must leave the store as it was: the module's server is shared and each test
checks that nothing it sent was created.
"""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from tests.api.test_api_walkthrough import teller
from tests.support.http_call import http_call

MESHES = "/v20190125/meshes"
ROUTES = f"{MESHES}/m/virtualRouter/r/routes"
MIB = 1024 * 1024


def request(server, method: str, path: str, body, headers: dict | None = None):
    """(status, error type, message) of one raw HTTP request, so types boto3 would refuse
    client-side (a string weight, a boolean port) reach the server as sent."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, answer_headers, answer = http_call(server.api_port, method, path, data, headers)
    message = json.loads(answer or b"{}").get("message", "")
    return status, answer_headers.get("x-amzn-errortype"), message


@pytest.fixture(scope="module")
def api(shared_server):
    """A mesh `m` with a node, a router `r` and route `rt` (weight 1): what refused writes target."""
    client = shared_server.boto3()
    client.create_mesh(meshName="m")
    node = teller("")
    client.create_virtual_node(meshName="m", **node)
    listener = [{"portMapping": {"port": 9080, "protocol": "http"}}]
    client.create_virtual_router(meshName="m", virtualRouterName="r", spec={"listeners": listener})
    client.create_route(meshName="m", virtualRouterName="r", routeName="rt", spec=route_spec(1))
    return shared_server


def route_spec(weight, **match) -> dict:
    return {
        "httpRoute": {
            "match": {"prefix": "/", **match},
            "action": {"weightedTargets": [{"virtualNode": "colorteller-vn", "weight": weight}]},
        }
    }


def names(server) -> list[str]:
    return [m["meshName"] for m in server.boto3().list_meshes()["meshes"]]


def test_a_content_length_over_the_cap_is_refused_before_reading(api):
    """Three 100 MB creates were read, stored and answered 200; now the head alone is refused."""
    with socket.create_connection(("127.0.0.1", api.api_port), timeout=5) as sock:
        sock.sendall(
            b"PUT /v20190125/meshes HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 104857600\r\n\r\n"
        )  # and no body: a server that reads before refusing waits here
        answer = b""
        while chunk := sock.recv(65536):  # the server closes: the body is never read
            answer += chunk
    head = answer.decode("latin-1")
    assert head.startswith("HTTP/1.1 413"), head
    assert "x-amzn-errortype: badrequestexception" in head.lower()
    assert "104857600" in head and "1048576" in head


def test_a_streamed_body_over_the_cap_is_refused(api):
    """Chunked (no Content-Length): counted as it arrives, refused once past the cap."""
    body = json.dumps({"meshName": "huge", "clientToken": "x" * (2 * MIB)}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", api.api_port, timeout=10)
    try:
        connection.request(
            "PUT",
            MESHES,
            body=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
            headers={"content-type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        status, message = response.status, json.loads(response.read())["message"]
    except (BrokenPipeError, ConnectionResetError):  # refused before we finished sending
        status, message = 413, "request body"
    finally:
        connection.close()
    assert status == 413 and "request body" in message
    assert "huge" not in names(api)


@pytest.mark.parametrize(
    "token, why",
    [("x" * 37, "at most 36"), ("a b", "letters, digits, '-' and '_'")],
)
def test_client_token_is_bounded_as_app_mesh_documents(api, token, why):
    status, code, message = request(api, "PUT", MESHES, {"meshName": "tok", "clientToken": token})
    assert (status, code) == (400, "BadRequestException"), message
    assert "clientToken" in message and why in message
    assert "tok" not in names(api)


def test_a_36_character_client_token_is_accepted(api):
    status, _, message = request(
        api, "PUT", MESHES, {"meshName": "tok36", "clientToken": "A-_" * 12}
    )
    assert status == 200, message


@pytest.mark.parametrize(
    "match, field",
    [
        ({"prefix": "/" + "a" * 255}, "spec.httpRoute.match.prefix"),
        (
            {"queryParameters": [{"name": "q", "match": {"exact": "v" * 256}}]},
            "spec.httpRoute.match.queryParameters[0].match.exact",
        ),
    ],
)
def test_strings_the_model_leaves_unbounded_are_bounded(api, match, field):
    body = {"routeName": "long", "spec": route_spec(1, **match)}
    status, code, message = request(api, "PUT", ROUTES, body)
    assert (status, code) == (400, "BadRequestException"), message
    assert field in message and "at most 255" in message
    assert (
        api.boto3().list_routes(meshName="m", virtualRouterName="r")["routes"][0]["routeName"]
        == "rt"
    )


def test_untag_keys_are_bounded(api):
    arn = api.boto3().describe_mesh(meshName="m")["mesh"]["metadata"]["arn"]
    for keys, why in ((["k" * 129], "at most 128"), ([f"k{i}" for i in range(51)], "at most 50")):
        status, code, message = request(
            api, "PUT", f"/v20190125/untag?resourceArn={arn}", {"tagKeys": keys}
        )
        assert (status, code) == (400, "BadRequestException") and "tagKeys" in message, message
        assert why in message


@pytest.mark.parametrize(
    "weight", [True, False, "5", 5.0, "0x5"], ids=["true", "false", "str", "float", "hex"]
)
def test_a_weight_must_be_a_json_integer(api, weight):
    """App Mesh's API refused `"weight": true` and `"weight": "5"`; pydantic's lax mode took them."""
    spec = route_spec(weight)
    status, code, message = request(api, "PUT", f"{ROUTES}/rt", {"spec": spec})
    assert (status, code) == (400, "BadRequestException"), message
    assert "spec.httpRoute.action.weightedTargets[0].weight" in message and "integer" in message
    route = api.boto3().describe_route(meshName="m", virtualRouterName="r", routeName="rt")
    assert route["route"]["metadata"]["version"] == 1


@pytest.mark.parametrize(
    "path, body, field",
    [
        (
            f"{MESHES}/m/virtualNodes/colorteller-vn",
            {
                "spec": {
                    **teller("")["spec"],
                    "listeners": [{"portMapping": {"port": "9080", "protocol": "http"}}],
                }
            },
            "spec.listeners[0].portMapping.port",
        ),
        (
            f"{ROUTES}/rt",
            {
                "spec": route_spec(
                    1, headers=[{"name": "x", "invert": "true", "match": {"exact": "y"}}]
                )
            },
            "spec.httpRoute.match.headers[0].invert",
        ),
        (
            f"{ROUTES}/rt",
            {"spec": {**route_spec(1), "priority": "1"}},
            "spec.priority",
        ),
    ],
    ids=["port", "invert", "priority"],
)
def test_other_integers_and_booleans_are_exact(api, path, body, field):
    status, code, message = request(api, "PUT", path, body)
    assert (status, code) == (400, "BadRequestException"), message
    assert field in message
    assert (
        api.boto3().describe_route(meshName="m", virtualRouterName="r", routeName="rt")["route"][
            "metadata"
        ]["version"]
        == 1
    )


def test_a_duplicated_json_key_is_refused(api):
    """`{"meshName": "x", "meshName": "y"}` created `y`: a check reading the first key and a
    write using the last could disagree, so an ambiguous body is refused."""
    body = b'{"meshName": "dup-x", "meshName": "dup-y"}'
    status, code, message = request(api, "PUT", MESHES, body)
    assert (status, code) == (400, "BadRequestException"), message
    assert "meshName" in message and "more than once" in message
    assert not {"dup-x", "dup-y"} & set(names(api))


def test_names_in_the_path_are_bounded(api):
    status, code, message = request(api, "GET", f"{MESHES}/{'a' * 5000}", None)
    assert (status, code) == (400, "BadRequestException"), message
    assert "meshName" in message and "at most 255" in message and len(message) < 400


def test_a_body_cut_short_by_a_disconnect_is_not_written(api):
    """The client declares 100 bytes, sends a complete JSON object of 26, and hangs up: the
    request never completed, so nothing may be written from what arrived."""
    body = b'{"meshName": "cut-short"}'
    with socket.create_connection(("127.0.0.1", api.api_port), timeout=10) as sock:
        sock.sendall(
            b"PUT /v20190125/meshes HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 100\r\n\r\n" + body
        )
        time.sleep(0.5)  # the server has taken in the 26 bytes before the hang-up
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):  # until the server closes its side
            pass
    assert "cut-short" not in names(api)


def test_an_unchecked_signature_cannot_put_a_huge_region_in_an_arn(api):
    """Without --api-keys the region of a signature names the ARNs it creates: only a region."""
    authorization = (
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/" + "a" * 5000 + "/appmesh/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64
    )
    status, _, message = request(
        api, "PUT", MESHES, {"meshName": "regional"}, {"authorization": authorization}
    )
    assert status == 200, message
    arn = api.boto3().describe_mesh(meshName="regional")["mesh"]["metadata"]["arn"]
    assert arn == "arn:aws:appmesh:us-east-1:000000000000:mesh/regional"
