"""Property test of the API (hypothesis): for any body, name or query, no 5xx; a refused request
changes nothing; everything the store holds still builds into a valid mesh after a restart."""

from __future__ import annotations

import copy
import http.client
import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_api_persistence import boto_walkthrough, shared
from tests.api.test_api_walkthrough import teller

BASE = "/v20190125/meshes/default"
ROUTE_PATH = f"{BASE}/virtualRouter/colorteller-vr/routes"
VALID = {
    "node": teller("green"),
    "route": shared("colorteller-route-blue-red.json"),
    "router": {"virtualRouterName": "r2", "spec": {"listeners": [{"portMapping": {"port": 9081, "protocol": "http"}}]}},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
names = st.one_of(st.sampled_from(["colorteller-vn", "colorteller-route", "x", "", "a" * 300, "../..", "é", "a/b"]),
                  st.text(max_size=30))


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
    st.tuples(st.sampled_from(["PUT", "GET", "DELETE"]), names.map(lambda n: f"{BASE}/virtualNodes/{quote(n, safe='')}"), json_values),
    st.tuples(st.just("PUT"), st.just("/v20190125/meshes"), json_values),
    st.tuples(st.just("GET"), st.sampled_from([f"{BASE}/virtualNodes?limit=", "/v20190125/meshes?nextToken=", "/v20190125/tags?resourceArn="]).flatmap(
        lambda p: st.text(max_size=20).map(lambda q: p + quote(q, safe=""))), st.none()),
)


def call(port: int, method: str, path: str, body) -> tuple[int, dict, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=payload, headers={"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def state(port: int) -> list:
    """Every stored resource of the mesh, as Describe returns it."""
    out = []
    for collection, key in (("virtualNodes", "virtualNodeName"), ("virtualRouters", "virtualRouterName")):
        for ref in call(port, "GET", f"{BASE}/{collection}", None)[2][collection]:
            out.append(call(port, "GET", f"{BASE}/{collection}/{quote(ref[key], safe='')}", None)[2])
    out += [call(port, "GET", f"{ROUTE_PATH}/colorteller-route", None)[2]]
    return out


@pytest.fixture(scope="module")
def fuzzed(shared_server):
    boto_walkthrough(shared_server.boto3())
    return shared_server


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=requests)
def test_no_5xx_and_refused_requests_change_nothing(fuzzed, request):
    method, path, body = request
    before = state(fuzzed.api_port) if method != "GET" else None
    status, headers, answer = call(fuzzed.api_port, method, path, body)
    assert status < 500, (status, answer)
    if status >= 400:
        assert set(answer) == {"message"} and headers.get("x-amzn-errortype", "").endswith("Exception")
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
