"""Replicas: two `xds serve --db postgresql://... --api` processes on one real PostgreSQL database,
a real Envoy on each, the real boto3 client (issue 11, part 1).

A write through either replica is committed once and reaches the Envoys of both; kill -9 of a
replica during a burst loses no acknowledged write, stores no refused one, and its Envoy fails
over to the survivor through the comma list in APPMESH_XDS_ENDPOINT.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.conftest import Server
from tests.api.test_api_persistence import GATEWAY, ROUTER, boto_walkthrough, wait_for
from tests.support.loopback import free_port
from tests.support.serve import proxyinit_command, run, serve_command
from tests.xds.test_xds_envoy import EGRESS_ROUTES, dynamic


def route(i: int) -> dict:
    return {
        **ROUTER,
        "routeName": f"burst-{i}",
        "clientToken": f"burst-token-{i}",
        "spec": {
            "priority": 1 + i,
            "httpRoute": {
                "match": {"prefix": f"/burst-{i}/"},
                "action": {"weightedTargets": [{"virtualNode": "colorteller-vn", "weight": 1}]},
            },
        },
    }


def client(server: Server):
    """boto3 without its own retries: the test sees every failure as it happened."""
    import boto3
    from botocore.config import Config

    from tests.api.conftest import ENV, REGION

    return boto3.client(
        "appmesh",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"total_max_attempts": 1}, read_timeout=10, connect_timeout=2),
    )


@pytest.fixture
def replicas(postgres_url):
    """Two replicas on one database, on ports chosen up front (Envoys are told them first)."""
    ports = f"{free_port()},{free_port()}"  # the same listeners on both: identical snapshots
    pair = [Server(postgres_url, listener_ports=ports, xds_port=free_port()) for _ in range(2)]
    try:
        yield pair
    finally:
        for server in pair:
            server.stop()


def test_concurrent_updates_of_one_route_through_two_replicas_lose_none(replicas):
    a, b = replicas
    a.start()
    b.start()
    boto_walkthrough(a.boto3())
    clients = [client(a), client(b)]

    def update(i: int) -> int:
        body = {**ROUTER, "routeName": "colorteller-route", "spec": route(i)["spec"]}
        body["spec"]["priority"] = 1
        return clients[i % 2].update_route(**body)["route"]["metadata"]["version"]

    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(update, range(12)))
    assert sorted(versions) == list(range(2, 14))  # each update applied once, in sequence
    final = [c.describe_route(**ROUTER, routeName="colorteller-route")["route"] for c in clients]
    assert final[0] == final[1] and final[0]["metadata"]["version"] == 13


def test_client_token_idempotency_holds_across_replicas(replicas):
    from tests.support.metrics_scrape import scrape_when

    a, b = replicas
    b.metrics_port = 0
    a.start()
    b.start()
    first = a.boto3().create_mesh(meshName="m", clientToken="tok-1")["mesh"]
    seen = scrape_when(b.metrics_port, lambda s: s.value("proxyinit_replica_catch_ups_total"))
    assert seen.value("proxyinit_replica_notifications_total") >= 1  # B heard of A's write
    assert seen.value("proxyinit_replica_catch_ups_total") >= 1
    again = b.boto3().create_mesh(meshName="m", clientToken="tok-1")["mesh"]  # a retry elsewhere
    assert again == first
    other_client = b.boto3()
    with pytest.raises(other_client.exceptions.ConflictException):
        other_client.create_mesh(meshName="m", clientToken="tok-2")
    assert a.boto3().describe_mesh(meshName="m")["mesh"]["metadata"]["version"] == 1


def burst_routes(dump: dict) -> set[str]:
    """The burst routes an Envoy serves (by the prefix they match)."""
    config = dynamic(dump, "routes").get(EGRESS_ROUTES, {}).get("body", {})
    text = json.dumps(config.get("virtual_hosts", []))
    return {p.split("/")[1] for p in text.split('"prefix": "')[1:] if p.startswith("/burst-")}


async def served(envoy) -> set[str]:
    status, body = await envoy.admin_get("/config_dump")
    return burst_routes(json.loads(body)) if status == 200 else set()


def streams_on(server: Server) -> int:
    return len(server.debug_state()["nodes"].get(GATEWAY, {}).get("streams", []))


@pytest.mark.envoy
async def test_kill9_of_a_replica_during_a_burst_of_writes(replicas):
    from proxyinit.mesh.runtime.envoy import EnvoyProcess

    a, b = replicas
    a.start()
    boto_walkthrough(a.boto3())
    on_a, on_b = EnvoyProcess(), EnvoyProcess()
    try:
        # B is not up yet: the Envoy listing A then B connects to A.
        await on_a.start_node(GATEWAY, f"127.0.0.1:{a.xds_port},127.0.0.1:{b.xds_port}")
        b.start()
        await on_b.start_node(GATEWAY, f"127.0.0.1:{b.xds_port}")
        await wait_for(lambda: asyncio.to_thread(lambda: streams_on(a) == streams_on(b) == 1))
        outcome = await asyncio.to_thread(burst, a, b, 60)
        ok = {f"burst-{i}" for i, result in outcome.items() if result == "ok"}
        refused = {f"burst-{i}" for i, result in outcome.items() if result == "refused"}
        unknown = {i for i, result in outcome.items() if result == "unknown"}
        assert len(ok) > 20 and refused, outcome  # A died mid-burst; B kept taking writes
        # A request cut by the kill may or may not have committed: the client cannot know and
        # retries it with its clientToken; the survivor answers as for the first attempt.
        for i in unknown:
            answer = client(b).create_route(**route(i))["route"]
            assert answer["metadata"]["version"] == 1
            ok.add(f"burst-{i}")
        stored = {r["routeName"] for r in client(b).list_routes(**ROUTER)["routes"]}
        assert ok <= stored and not (refused & stored)
        for envoy in (on_b, on_a):  # on_a reconnects to B through its list
            await wait_for(lambda e=envoy: _has(e, ok), timeout=20, what="the burst in Envoy")
        assert streams_on(b) == 2
        assert (await served(on_a)) == (await served(on_b)) == ok
        # Versions are content hashes: the same config has the same version on every replica,
        # so an Envoy failing over to another replica is told nothing new.
        assert await rds_version(on_a) == await rds_version(on_b)
    finally:
        await on_a.stop()
        await on_b.stop()


async def rds_version(envoy) -> str:
    return dynamic(json.loads((await envoy.admin_get("/config_dump"))[1]), "routes")[EGRESS_ROUTES][
        "version"
    ]


async def _has(envoy, names: set[str]) -> bool:
    return names <= await served(envoy)


def burst(a: Server, b: Server, count: int) -> dict[int, str]:
    """create-route x count, alternately through A and B from 4 threads; A is killed -9 after the
    tenth acknowledged write. Per write: ok (200), refused (an error answer, or never sent), or
    unknown (sent, then the connection was cut: the kill)."""
    from botocore.exceptions import ClientError, EndpointConnectionError

    clients, lock, acked = [client(a), client(b)], threading.Lock(), []
    outcome: dict[int, str] = {}

    def write(i: int) -> None:
        try:
            clients[i % 2].create_route(**route(i))
            result = "ok"
        except (ClientError, EndpointConnectionError):
            result = "refused"
        except Exception:  # ConnectionClosedError, ReadTimeoutError, ...: cut mid-request
            result = "unknown"
        with lock:
            outcome[i] = result
            acked.append(result)
            if acked.count("ok") == 10 and a.process is not None:
                a.kill9()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(count)))
    return outcome


def test_an_unreachable_database_is_a_configuration_error_without_its_password():
    port = free_port()  # nobody listens there
    url = f"postgresql://u:hunter2@127.0.0.1:{port}/x"
    done = run(serve_command("--xds", "127.0.0.1:0", "--api", "127.0.0.1:0", db=url))
    assert done.returncode == 2
    assert f"--db 'postgresql://u:***@127.0.0.1:{port}/x': cannot connect" in done.stderr
    assert "hunter2" not in done.stderr


def test_mesh_apply_straight_into_the_shared_database(postgres_url):
    """`mesh apply --db postgresql://...` takes the same lock as the replicas' writes."""
    from proxyinit.store.meshes import MeshStore
    from proxyinit.store.postgres import PostgresStore
    from tests.api.conftest import ROOT

    mesh_file = ROOT / "examples" / "colorapp" / "mesh.yaml"
    command = proxyinit_command("mesh", "apply", "-f", mesh_file, "--db", postgres_url)
    done = run(command, timeout=60)
    assert done.returncode == 0, done.stderr
    store = MeshStore(PostgresStore(postgres_url))
    try:
        assert "colorteller-vn" in store.meshes["default"].nodes
    finally:
        store.store.close()
