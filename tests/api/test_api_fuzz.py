"""Property test of the API (hypothesis): for any body, name or query, no 5xx; a refused request
changes nothing; everything the store holds still builds into a valid mesh after a restart.
With SigV4 verification on (`--api-keys`), no Authorization/X-Amz-Date/x-amz-content-sha256
header, however malformed, gives a 5xx or gets a request through."""

from __future__ import annotations

import copy
import json
import time
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import ENV
from tests.api.test_api_persistence import boto_walkthrough, colorapp_json
from tests.api.test_api_walkthrough import teller
from tests.support.http_call import http_call
from tests.support.sigv4 import signed_server

BASE = "/v20190125/meshes/default"
ROUTE_PATH = f"{BASE}/virtualRouter/colorteller-vr/routes"
VALID = {
    "node": teller("green"),
    "route": colorapp_json("colorteller-route-blue-red.json"),
    "router": {
        "virtualRouterName": "r2",
        "spec": {"listeners": [{"portMapping": {"port": 9081, "protocol": "http"}}]},
    },
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
names = st.one_of(
    st.sampled_from(
        ["colorteller-vn", "colorteller-route", "x", "", "a" * 300, "../..", "é", "a/b"]
    ),
    st.text(max_size=30),
)


def paths_in(value, prefix=()):
    """Every (path) into a JSON document, so a mutation can hit any field."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths_in(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths_in(child, (*prefix, index))


@st.composite
def mutated(draw, kind: str):
    """A valid create/update body with one field replaced by anything (or removed)."""
    body = copy.deepcopy(VALID[kind])
    path = draw(st.sampled_from(list(paths_in(body))[1:]))
    parent = body
    for part in path[:-1]:
        parent = parent[part]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return body


requests = st.one_of(
    st.tuples(st.just("PUT"), st.just(f"{BASE}/virtualNodes"), mutated("node")),
    st.tuples(st.just("PUT"), st.just(ROUTE_PATH), mutated("route")),
    st.tuples(st.just("PUT"), st.just(f"{ROUTE_PATH}/colorteller-route"), mutated("route")),
    st.tuples(st.just("PUT"), st.just(f"{BASE}/virtualRouters"), mutated("router")),
    st.tuples(
        st.sampled_from(["PUT", "GET", "DELETE"]),
        names.map(lambda n: f"{BASE}/virtualNodes/{quote(n, safe='')}"),
        json_values,
    ),
    st.tuples(st.just("PUT"), st.just("/v20190125/meshes"), json_values),
    st.tuples(
        st.just("GET"),
        st.sampled_from(
            [
                f"{BASE}/virtualNodes?limit=",
                "/v20190125/meshes?nextToken=",
                "/v20190125/tags?resourceArn=",
            ]
        ).flatmap(lambda p: st.text(max_size=20).map(lambda q: p + quote(q, safe=""))),
        st.none(),
    ),
)


def call(
    port: int, method: str, path: str, body, headers: dict | None = None
) -> tuple[int, dict, dict]:
    payload = None if body is None else json.dumps(body).encode()
    status, answer_headers, answer = http_call(port, method, path, payload, headers)
    return status, answer_headers, json.loads(answer or b"{}")


def state(port: int) -> list:
    """Every stored resource of the mesh, as Describe returns it."""
    out = []
    for collection, key in (
        ("virtualNodes", "virtualNodeName"),
        ("virtualRouters", "virtualRouterName"),
    ):
        for ref in call(port, "GET", f"{BASE}/{collection}", None)[2][collection]:
            out.append(
                call(port, "GET", f"{BASE}/{collection}/{quote(ref[key], safe='')}", None)[2]
            )
    out += [call(port, "GET", f"{ROUTE_PATH}/colorteller-route", None)[2]]
    return out


@pytest.fixture(scope="module")
def fuzzed(shared_server):
    boto_walkthrough(shared_server.boto3())
    return shared_server


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests)
def test_no_5xx_and_refused_requests_change_nothing(fuzzed, request):
    method, path, body = request
    before = state(fuzzed.api_port) if method != "GET" else None
    status, headers, answer = call(fuzzed.api_port, method, path, body)
    assert status < 500, (status, answer)
    if status >= 400:
        assert set(answer) == {"message"} and headers.get("x-amzn-errortype", "").endswith(
            "Exception"
        )
        if before is not None:
            assert state(fuzzed.api_port) == before


def test_what_the_fuzzer_left_is_a_valid_store(fuzzed):
    """Runs after the property test (file order): a fresh load of the file builds every mesh."""
    from proxyinit.store.meshes import MeshStore
    from proxyinit.store.sqlite import SqliteStore

    fuzzed.stop()  # the server owns the file while it runs
    store = MeshStore(SqliteStore(fuzzed.db))
    try:
        assert set(store.meshes) == {r.key.mesh for r in store.meshes_records()} == {"default"}
    finally:
        store.store.close()


# ---------------------------------------------------------------- SigV4 verification on
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_categories=("Cc",)), max_size=40
)
today = st.builds(lambda: time.strftime("%Y%m%d", time.gmtime()))
scopes = st.one_of(
    st.sampled_from(
        ["x", "", "/", "a/b/c/d", "a/b/c/d/e", "20260101/us-west-2/appmesh/aws4_request", "//////"]
    ),
    today.map(lambda day: f"{day}/us-west-2/appmesh/aws4_request"),
    header_text,
)
authorizations = st.one_of(
    st.builds(
        lambda akid, scope, signed, sig, sep: (
            f"AWS4-HMAC-SHA256 Credential={akid}/{scope},{sep}SignedHeaders={signed},{sep}Signature={sig}"
        ),
        st.sampled_from([ENV["AWS_ACCESS_KEY_ID"], "AKIDSTRANGER", ""]) | header_text,
        scopes,
        st.sampled_from(["host;x-amz-date", "x-amz-date", "host", ";", "", "host;host"])
        | header_text,
        st.sampled_from(["0" * 64, "f" * 64, ""]) | header_text,
        st.sampled_from([" ", "", "  "]),
    ),
    header_text.map(lambda text: "AWS4-HMAC-SHA256 " + text),
    header_text,
)
amz_dates = st.one_of(
    st.none(),
    st.builds(lambda: time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())),
    st.sampled_from(
        ["", "20260101T000000Z", "99999999T999999Z", "00000000T000000Z", "19700101T000000Z"]
    ),
    header_text,
)
content_hashes = st.one_of(
    st.none(),
    st.sampled_from(
        ["", "UNSIGNED-PAYLOAD", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]
    ),
    header_text,
)
signed_requests = st.tuples(
    st.sampled_from(
        [
            ("GET", "/v20190125/meshes", None),
            ("PUT", "/v20190125/meshes", {"meshName": "fuzz"}),
            ("DELETE", "/v20190125/meshes/signed", None),
            ("GET", "/v20190125/tags?resourceArn=x&limit=5", None),
        ]
    ),
    authorizations,
    amz_dates,
    content_hashes,
)


@pytest.fixture(scope="module")
def signed_fuzzed(tmp_path_factory):
    with signed_server(tmp_path_factory.mktemp("signed")) as running:
        # Validly signed: something a forged DELETE could remove.
        running.boto3().create_mesh(meshName="signed")
        yield running


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=signed_requests)
def test_malformed_signatures_are_refused_never_5xx(signed_fuzzed, request):
    (method, path, body), authorization, amz_date, content_hash = request
    headers = {"authorization": authorization}
    if amz_date is not None:
        headers["x-amz-date"] = amz_date
    if content_hash is not None:
        headers["x-amz-content-sha256"] = content_hash
    status, answer_headers, answer = call(signed_fuzzed.api_port, method, path, body, headers)
    assert status in (400, 403), (status, answer)
    assert set(answer) == {"message"} and answer_headers.get("x-amzn-errortype", "").endswith(
        "Exception"
    )


def test_no_forged_request_got_through(signed_fuzzed):
    """Runs after the property test (file order)."""
    assert [m["meshName"] for m in signed_fuzzed.boto3().list_meshes()["meshes"]] == ["signed"]
