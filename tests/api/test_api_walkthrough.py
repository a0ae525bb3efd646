"""The colorapp walkthrough through the real aws CLI, against a real server: the calls App Mesh
users kept as scripts, with the walkthrough's JSON (tests/data/colorapp/, as the 2018
preview published it) turned into its 2019 GA shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

COLORAPP = Path(__file__).resolve().parents[1] / "data" / "colorapp"
SERVICE = "colorteller.default.svc.cluster.local"


def ga_node(preview: dict) -> dict:
    """A 2018 preview virtual node (colorgateway-vn.json) in the 2019 shape."""
    spec = dict(preview["spec"])
    spec["serviceDiscovery"] = {"dns": {"hostname": spec["serviceDiscovery"]["dns"]["serviceName"]}}
    spec["backends"] = [
        {"virtualService": {"virtualServiceName": name}} for name in spec.get("backends", [])
    ]
    return {"virtualNodeName": preview["virtualNodeName"], "spec": spec}


def teller(color: str) -> dict:
    name = "colorteller" + (f"-{color}" if color else "")
    return {
        "virtualNodeName": f"{name}-vn",
        "spec": {
            "listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": f"{name}.default.svc.cluster.local"}},
        },
    }


def ga_router(preview: dict) -> dict:
    """The preview router's serviceNames become a VirtualService in 2019; the router gets a listener."""
    return {
        "virtualRouterName": preview["virtualRouterName"],
        "spec": {"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}]},
    }


def colorapp_json(name: str) -> dict:
    return json.loads((COLORAPP / name).read_text())


def walkthrough(server) -> dict:
    """create-mesh, create-virtual-node x4 (the gateway first, its backend service not created
    yet: App Mesh does not check backends), create-virtual-router, create-route,
    create-virtual-service (its provider router must exist). Returns the outputs by name."""
    out = {"mesh": server.aws("create-mesh", "--mesh-name", "default").json}
    out["gateway"] = server.aws(
        "create-virtual-node",
        "--mesh-name",
        "default",
        "--cli-input-json",
        json.dumps(ga_node(colorapp_json("colorgateway-vn.json"))),
    ).json
    for color in ("", "blue", "red"):
        out[color or "white"] = server.aws(
            "create-virtual-node",
            "--mesh-name",
            "default",
            "--cli-input-json",
            json.dumps(teller(color)),
        ).json
    out["router"] = server.aws(
        "create-virtual-router",
        "--mesh-name",
        "default",
        "--cli-input-json",
        json.dumps(ga_router(colorapp_json("colorteller-vr.json"))),
    ).json
    out["route"] = server.aws(
        "create-route",
        "--mesh-name",
        "default",
        "--cli-input-json",
        json.dumps(colorapp_json("colorteller-route.json")),
    ).json
    out["service"] = server.aws(
        "create-virtual-service",
        "--mesh-name",
        "default",
        "--virtual-service-name",
        SERVICE,
        "--spec",
        json.dumps({"provider": {"virtualRouter": {"virtualRouterName": "colorteller-vr"}}}),
    ).json
    return out


def test_walkthrough_creates_updates_and_describes(server):
    out = walkthrough(server)
    mesh = out["mesh"]["mesh"]
    assert mesh["meshName"] == "default" and mesh["status"] == {"status": "ACTIVE"}
    assert mesh["spec"] == {"egressFilter": {"type": "DROP_ALL"}}
    metadata = mesh["metadata"]
    assert (
        metadata["arn"] == "arn:aws:appmesh:us-west-2:000000000000:mesh/default"
        and metadata["version"] == 1
    )
    assert set(metadata) == {
        "arn",
        "uid",
        "version",
        "createdAt",
        "lastUpdatedAt",
        "meshOwner",
        "resourceOwner",
    }
    gateway = out["gateway"]["virtualNode"]
    assert gateway["metadata"]["arn"].endswith(":mesh/default/virtualNode/colorgateway-vn")
    assert gateway["spec"]["backends"] == [{"virtualService": {"virtualServiceName": SERVICE}}]
    assert out["route"]["route"]["metadata"]["arn"].endswith(
        ":mesh/default/virtualRouter/colorteller-vr/route/colorteller-route"
    )

    updated = server.aws(
        "update-route",
        "--mesh-name",
        "default",
        "--cli-input-json",
        json.dumps(colorapp_json("colorteller-route-blue-red.json")),
    ).json["route"]
    assert updated["metadata"]["version"] == 2
    assert updated["metadata"]["uid"] == out["route"]["route"]["metadata"]["uid"]
    assert updated["metadata"]["createdAt"] == out["route"]["route"]["metadata"]["createdAt"]
    assert updated["metadata"]["lastUpdatedAt"] >= updated["metadata"]["createdAt"]
    described = server.aws(
        "describe-route",
        "--mesh-name",
        "default",
        "--virtual-router-name",
        "colorteller-vr",
        "--route-name",
        "colorteller-route",
    ).json["route"]
    assert described == updated
    weights = {
        t["virtualNode"]: t["weight"]
        for t in described["spec"]["httpRoute"]["action"]["weightedTargets"]
    }
    assert weights == {"colorteller-blue-vn": 8, "colorteller-red-vn": 2}


def test_list_paginates(server):
    walkthrough(server)
    every = server.aws("list-virtual-nodes", "--mesh-name", "default", "--page-size", "1").json[
        "virtualNodes"
    ]
    assert [n["virtualNodeName"] for n in every] == [
        "colorgateway-vn",
        "colorteller-blue-vn",
        "colorteller-red-vn",
        "colorteller-vn",
    ]
    assert set(every[0]) == {
        "arn",
        "createdAt",
        "lastUpdatedAt",
        "meshName",
        "meshOwner",
        "resourceOwner",
        "version",
        "virtualNodeName",
    }
    first = server.aws(
        "list-virtual-nodes", "--mesh-name", "default", "--no-paginate", "--limit", "3"
    ).json
    assert len(first["virtualNodes"]) == 3 and first["nextToken"]
    rest = server.aws(
        "list-virtual-nodes",
        "--mesh-name",
        "default",
        "--no-paginate",
        "--limit",
        "3",
        "--next-token",
        first["nextToken"],
    ).json
    assert [n["virtualNodeName"] for n in rest["virtualNodes"]] == [
        "colorteller-vn"
    ] and "nextToken" not in rest
    routes = server.aws(
        "list-routes", "--mesh-name", "default", "--virtual-router-name", "colorteller-vr"
    ).json["routes"]
    assert [(r["virtualRouterName"], r["routeName"]) for r in routes] == [
        ("colorteller-vr", "colorteller-route")
    ]
    assert [m["meshName"] for m in server.aws("list-meshes").json["meshes"]] == ["default"]
    bad = server.aws("list-meshes", "--no-paginate", "--limit", "101", check=False)
    assert "(BadRequestException)" in bad.stderr and "limit" in bad.stderr


@pytest.fixture(scope="module")
def walked(shared_server):
    """The walkthrough done once; the error cases below are all refused, so they share it."""
    walkthrough(shared_server)
    return shared_server


def error_of(result) -> str:
    assert result.returncode != 0, result.stdout
    return result.stderr.strip()


@pytest.mark.parametrize(
    "args, code, words",
    [
        (("describe-mesh", "--mesh-name", "nope"), "NotFoundException", "'nope' does not exist"),
        (
            ("describe-virtual-node", "--mesh-name", "default", "--virtual-node-name", "nope"),
            "NotFoundException",
            "'nope'",
        ),
        (
            ("list-routes", "--mesh-name", "default", "--virtual-router-name", "nope"),
            "NotFoundException",
            "'nope'",
        ),
        (("create-mesh", "--mesh-name", "default"), "ConflictException", "already exists"),
        (
            (
                "create-virtual-node",
                "--mesh-name",
                "default",
                "--virtual-node-name",
                "colorteller-vn",
                "--spec",
                "{}",
            ),
            "ConflictException",
            "already exists",
        ),
        (("delete-mesh", "--mesh-name", "default"), "ResourceInUseException", "delete them first"),
        (
            (
                "delete-virtual-router",
                "--mesh-name",
                "default",
                "--virtual-router-name",
                "colorteller-vr",
            ),
            "ResourceInUseException",
            "colorteller-route",
        ),
        (
            (
                "delete-virtual-node",
                "--mesh-name",
                "default",
                "--virtual-node-name",
                "colorteller-vn",
            ),
            "ResourceInUseException",
            "weightedTargets[0].virtualNode",
        ),
        (
            (
                "update-route",
                "--mesh-name",
                "default",
                "--virtual-router-name",
                "colorteller-vr",
                "--route-name",
                "colorteller-route",
                "--spec",
                '{"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "colorteller-vn", "weight": 101}]}}}',
            ),
            "BadRequestException",
            "weightedTargets[0].weight",
        ),
        (
            (
                "create-route",
                "--mesh-name",
                "default",
                "--virtual-router-name",
                "colorteller-vr",
                "--route-name",
                "r2",
                "--spec",
                '{"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "ghost-vn", "weight": 1}]}}}',
            ),
            "BadRequestException",
            "'ghost-vn'",
        ),
        (
            (
                "create-virtual-gateway",
                "--mesh-name",
                "default",
                "--virtual-gateway-name",
                "gw",
                "--spec",
                # A virtual gateway speaks http, http2 or grpc (VirtualGatewayPortProtocol).
                '{"listeners": [{"portMapping": {"port": 8080, "protocol": "tcp"}}]}',
            ),
            "BadRequestException",
            "spec.listeners[0].portMapping.protocol",
        ),
    ],
)
def test_errors_as_app_mesh_sends_them(walked, args, code, words):
    message = error_of(walked.aws(*args, check=False))
    operation = "".join(part.title() for part in args[0].split("-"))
    assert message.startswith(
        f"An error occurred ({code}) when calling the {operation} operation: "
    ), message
    assert words in message


def test_invalid_writes_change_nothing(server):
    walkthrough(server)
    before = server.aws(
        "describe-route",
        "--mesh-name",
        "default",
        "--virtual-router-name",
        "colorteller-vr",
        "--route-name",
        "colorteller-route",
    ).json
    server.aws(
        "update-route",
        "--mesh-name",
        "default",
        "--virtual-router-name",
        "colorteller-vr",
        "--route-name",
        "colorteller-route",
        "--spec",
        '{"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": []}}}',
        check=False,
    )
    after = server.aws(
        "describe-route",
        "--mesh-name",
        "default",
        "--virtual-router-name",
        "colorteller-vr",
        "--route-name",
        "colorteller-route",
    ).json
    assert after == before


def test_deletes_in_the_right_order_empty_the_store(server):
    walkthrough(server)
    m = ("--mesh-name", "default")
    server.aws("delete-virtual-node", *m, "--virtual-node-name", "colorgateway-vn")
    server.aws("delete-virtual-service", *m, "--virtual-service-name", SERVICE)
    deleted = server.aws(
        "delete-route",
        *m,
        "--virtual-router-name",
        "colorteller-vr",
        "--route-name",
        "colorteller-route",
    ).json
    assert deleted["route"]["status"] == {"status": "DELETED"}
    server.aws("delete-virtual-router", *m, "--virtual-router-name", "colorteller-vr")
    for node in ("colorteller-vn", "colorteller-blue-vn", "colorteller-red-vn"):
        server.aws("delete-virtual-node", *m, "--virtual-node-name", node)
    assert server.aws("delete-mesh", *m).json["mesh"]["status"] == {"status": "DELETED"}
    assert server.aws("list-meshes").json["meshes"] == []


def test_client_token_with_the_cli(server):
    first = server.aws("create-mesh", "--mesh-name", "m2", "--client-token", "t-1").json
    assert (
        server.aws("create-mesh", "--mesh-name", "m2", "--client-token", "t-1").json == first
    )  # a retry
    reused = server.aws(
        "create-mesh",
        "--mesh-name",
        "m2",
        "--client-token",
        "t-1",
        "--spec",
        '{"egressFilter": {"type": "ALLOW_ALL"}}',
        check=False,
    )
    message = error_of(reused)
    assert message.startswith(
        "An error occurred (ConflictException) when calling the CreateMesh operation: "
    )
    assert "clientToken 't-1'" in message
