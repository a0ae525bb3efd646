"""Restarts: kill -9 between writes loses nothing acknowledged, and an Envoy connected across the
restart keeps its config (same versions, nothing re-applied) and then receives live writes."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests.api.conftest import Server
from tests.api.test_api_walkthrough import SERVICE, colorapp_json, ga_node, ga_router, teller
from tests.support.loopback import free_port
from tests.xds.test_xds_envoy import dynamic, route_weights

M = {"meshName": "default"}
ROUTER = {**M, "virtualRouterName": "colorteller-vr"}


def boto_walkthrough(client) -> None:
    client.create_mesh(meshName="default")
    for color in ("", "blue", "red"):
        client.create_virtual_node(**M, **teller(color))
    client.create_virtual_router(**M, **ga_router(colorapp_json("colorteller-vr.json")))
    client.create_route(**M, **colorapp_json("colorteller-route.json"))
    client.create_virtual_service(
        **M,
        virtualServiceName=SERVICE,
        spec={"provider": {"virtualRouter": {"virtualRouterName": "colorteller-vr"}}},
    )
    client.create_virtual_node(**M, **ga_node(colorapp_json("colorgateway-vn.json")))


def everything(client) -> dict:
    """Every resource as Describe returns it (datetimes as ISO text for comparison)."""
    out = {"mesh": client.describe_mesh(**M)["mesh"]}
    for ref in client.list_virtual_nodes(**M)["virtualNodes"]:
        out[ref["arn"]] = client.describe_virtual_node(**M, virtualNodeName=ref["virtualNodeName"])[
            "virtualNode"
        ]
    for ref in client.list_virtual_routers(**M)["virtualRouters"]:
        out[ref["arn"]] = client.describe_virtual_router(
            **M, virtualRouterName=ref["virtualRouterName"]
        )["virtualRouter"]
    for ref in client.list_virtual_services(**M)["virtualServices"]:
        out[ref["arn"]] = client.describe_virtual_service(
            **M, virtualServiceName=ref["virtualServiceName"]
        )["virtualService"]
    for ref in client.list_routes(**ROUTER)["routes"]:
        out[ref["arn"]] = client.describe_route(**ROUTER, routeName=ref["routeName"])["route"]
    return json.loads(json.dumps(out, default=str))


def blue_red(blue: int, red: int) -> dict:
    route = colorapp_json("colorteller-route-blue-red.json")
    route["spec"]["httpRoute"]["action"]["weightedTargets"] = [
        {"virtualNode": "colorteller-blue-vn", "weight": blue},
        {"virtualNode": "colorteller-red-vn", "weight": red},
    ]
    return route


def test_kill9_between_writes_loses_nothing_acknowledged(server):
    client = server.boto3()
    boto_walkthrough(client)
    before = everything(client)
    server.kill9()
    server.start()
    client = server.boto3()
    assert everything(client) == before
    for version in range(2, 6):
        answered = client.update_route(**M, **blue_red(version, 1))["route"]["metadata"]["version"]
        assert answered == version
        server.kill9()  # right after the 200: the write must already be on disk
        server.start()
        client = server.boto3()
        route = client.describe_route(**ROUTER, routeName="colorteller-route")["route"]
        assert route["metadata"]["version"] == version
        assert route["spec"]["httpRoute"]["action"]["weightedTargets"][0]["weight"] == version
    with pytest.raises(client.exceptions.ConflictException):
        client.create_mesh(meshName="default")


def last_updated(dump: dict) -> list[str]:
    """Every dynamic resource's `last_updated`: Envoy changes it only when it applies an update."""
    return sorted(re.findall(r'"last_updated": "([^"]+)"', json.dumps(dump)))


async def envoy_state(envoy) -> tuple[dict, dict, list]:
    status, body = await envoy.admin_get("/config_dump")
    assert status == 200
    dump = json.loads(body)
    return (
        {
            kind: {n: e["version"] for n, e in dynamic(dump, kind).items()}
            for kind in ("clusters", "listeners", "routes")
        },
        {n: e["body"] for n, e in dynamic(dump, "listeners").items()},
        last_updated(dump),
    )


async def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def connected(envoy) -> bool:
    status, body = await envoy.admin_get("/stats?filter=control_plane.connected_state")
    return status == 200 and b"control_plane.connected_state: 1" in body


@pytest.mark.envoy
async def test_envoy_connected_across_a_restart_sees_no_change_then_gets_writes(tmp_path):
    from proxyinit.mesh.runtime.envoy import EnvoyProcess
    from tests.api.conftest import Server

    server = Server(tmp_path / "mesh.db", listener_ports=f"{free_port()},{free_port()}")
    server.start()
    envoy = EnvoyProcess()
    try:
        boto_walkthrough(server.boto3())
        await envoy.start_node(GATEWAY, f"127.0.0.1:{server.xds_port}")
        before = await envoy_state(envoy)
        assert before[2], "no last_updated in the config dump"
        assert route_weights(json.loads((await envoy.admin_get("/config_dump"))[1])) == {
            "colorteller-vn": 1
        }
        acked = await wait_for(lambda: acked_stream(server), what="Envoy to ACK CDS, LDS and RDS")

        server.kill9()
        await wait_for(lambda: _not(connected(envoy)), what="Envoy to see the control plane go")
        server.start()  # same ports, same store
        # Envoy re-subscribes holding the old versions: CDS and LDS are not sent at all (a push
        # would be one response), RDS is always answered and ACKed at the very same version.
        again = await wait_for(
            lambda: acked_stream(server, acked["RDS"]["version_acked"]),
            what="Envoy to re-ACK RDS from the restarted server",
        )
        for kind in ("CDS", "LDS"):
            assert again[kind]["responses"] == 0, again
            assert again[kind]["version_acked"] == acked[kind]["version_acked"], again
        assert (again["RDS"]["responses"], again["RDS"]["acks"]) == (1, 1), again
        assert not any(state["nacks"] for state in again.values()), again
        assert await connected(envoy)
        assert await envoy_state(envoy) == before

        await asyncio.to_thread(
            server.boto3().update_route, **M, **colorapp_json("colorteller-route-blue-red.json")
        )

        async def new_weights():
            dump = json.loads((await envoy.admin_get("/config_dump"))[1])
            return route_weights(dump) == {"colorteller-blue-vn": 8, "colorteller-red-vn": 2}

        await wait_for(new_weights, what="the update-route to reach Envoy")
    finally:
        await envoy.stop()
        server.stop()


GATEWAY = "mesh/default/virtualNode/colorgateway-vn"


async def acked_stream(server, rds_version: str | None = None) -> dict | None:
    """Per type (CDS, LDS, RDS), the gateway's one stream on `server` once all three are ACKed
    (RDS at `rds_version` if given), else None."""
    state = await asyncio.to_thread(server.debug_state)
    streams = state["nodes"].get(GATEWAY, {}).get("streams", [])
    if len(streams) != 1:
        return None
    types = streams[0]["types"]
    if set(types) != {"CDS", "LDS", "RDS"} or not all(t["version_acked"] for t in types.values()):
        return None
    if rds_version is not None and types["RDS"]["version_acked"] != rds_version:
        return None
    return types


async def _not(awaitable) -> bool:
    return not await awaitable


def test_a_second_server_on_the_same_file_through_a_symlink_is_refused(server, tmp_path):
    """Before: both served, and after a restart one server's acknowledged writes were gone."""
    server.boto3().create_mesh(meshName="first")
    link = tmp_path / "elsewhere.db"
    link.symlink_to(server.db)
    second = Server(link)
    with pytest.raises(AssertionError, match="in use by another process"):
        second.start()
    second.stop()
    server.boto3().create_mesh(meshName="second")
    server.stop()
    server.start()
    names = [m["meshName"] for m in server.boto3().list_meshes()["meshes"]]
    assert names == ["first", "second"]
