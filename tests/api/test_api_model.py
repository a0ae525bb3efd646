"""The API against botocore's own model (appmesh 2019-01-25): every operation is served at the
model's method and path, and what we return conforms to the model's output shapes."""

from __future__ import annotations

import pytest

from tests.api.test_api_persistence import ROUTER, M, boto_walkthrough


@pytest.fixture(scope="module")
def model() -> dict:
    from botocore.loaders import Loader

    return Loader().load_service_model("appmesh", "service-2", "2019-01-25")


def test_every_operation_is_served_at_the_models_method_and_path(tmp_path, model):
    from proxyinit.api.app import create_app
    from proxyinit.store.meshes import MeshStore
    from proxyinit.store.sqlite import SqliteStore

    store = MeshStore(SqliteStore(tmp_path / "m.db"))
    app = create_app(store)
    store.store.close()
    served = {
        (method, route.path): route.name
        for route in app.routes
        for method in getattr(route, "methods", ())
    }
    expected = {
        name: (op["http"]["method"], op["http"]["requestUri"].split("?")[0])
        for name, op in model["operations"].items()
    }
    assert len(expected) == 38  # 7 kinds x 5 operations + 3 tag operations
    for name, where in expected.items():
        assert served.get(where) == name, f"{name}: {where} serves {served.get(where)}"
    assert {"/openapi.json", "/docs"} <= {route.path for route in app.routes}


def conforms(model: dict, shape_name: str, value, where: str = "") -> None:
    """`value` (parsed by botocore) has the model's required members and nothing else."""
    shape = model["shapes"][shape_name]
    kind = shape["type"]
    if kind == "structure":
        assert isinstance(value, dict), where
        missing = set(shape.get("required", ())) - set(value)
        assert not missing, f"{where or shape_name}: missing {missing}"
        assert set(value) <= set(shape["members"]), (
            f"{where}: unknown {set(value) - set(shape['members'])}"
        )
        for name, member in shape["members"].items():
            if name in value:
                conforms(model, member["shape"], value[name], f"{where}.{name}")
    elif kind == "list":
        for index, item in enumerate(value):
            conforms(model, shape["member"]["shape"], item, f"{where}[{index}]")


def test_responses_conform_to_the_model(server, model):
    client = server.boto3()
    boto_walkthrough(client)
    calls = [
        ("DescribeMesh", client.describe_mesh(**M)),
        ("ListMeshes", client.list_meshes()),
        (
            "DescribeVirtualNode",
            client.describe_virtual_node(**M, virtualNodeName="colorgateway-vn"),
        ),
        ("ListVirtualNodes", client.list_virtual_nodes(**M)),
        ("DescribeVirtualRouter", client.describe_virtual_router(**ROUTER)),
        ("ListVirtualRouters", client.list_virtual_routers(**M)),
        ("DescribeRoute", client.describe_route(**ROUTER, routeName="colorteller-route")),
        ("ListRoutes", client.list_routes(**ROUTER)),
        ("ListVirtualServices", client.list_virtual_services(**M)),
    ]
    for operation, response in calls:
        response.pop("ResponseMetadata")
        conforms(model, model["operations"][operation]["output"]["shape"], response, operation)


def test_client_token_makes_creates_and_updates_idempotent(server):
    client = server.boto3()
    first = client.create_mesh(meshName="m1", clientToken="token-1")["mesh"]
    assert client.create_mesh(meshName="m1", clientToken="token-1")["mesh"] == first  # a retry
    with pytest.raises(client.exceptions.ConflictException, match="clientToken"):
        client.create_mesh(
            meshName="m1", clientToken="token-1", spec={"egressFilter": {"type": "ALLOW_ALL"}}
        )
    spec = {"egressFilter": {"type": "ALLOW_ALL"}}
    updated = client.update_mesh(meshName="m1", spec=spec, clientToken="token-2")["mesh"]
    assert updated["metadata"]["version"] == 2
    assert client.update_mesh(meshName="m1", spec=spec, clientToken="token-2")["mesh"] == updated
    with pytest.raises(client.exceptions.ConflictException, match="clientToken"):
        client.update_mesh(
            meshName="m1", spec={"egressFilter": {"type": "DROP_ALL"}}, clientToken="token-2"
        )
    assert client.describe_mesh(meshName="m1")["mesh"]["metadata"]["version"] == 2


def test_tags_are_stored_and_listed(server):
    client = server.boto3()
    arn = client.create_mesh(meshName="m1", tags=[{"key": "team", "value": "color"}])["mesh"][
        "metadata"
    ]["arn"]
    client.tag_resource(
        resourceArn=arn, tags=[{"key": "env", "value": "lab"}, {"key": "team", "value": "mesh"}]
    )
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "env", "value": "lab"},
        {"key": "team", "value": "mesh"},
    ]
    page = client.list_tags_for_resource(resourceArn=arn, limit=1)
    assert page["tags"] == [{"key": "env", "value": "lab"}] and page["nextToken"]
    client.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "team", "value": "mesh"}
    ]
    assert (
        client.describe_mesh(meshName="m1")["mesh"]["metadata"]["version"] == 1
    )  # tags are not the spec
    with pytest.raises(client.exceptions.NotFoundException):
        client.list_tags_for_resource(resourceArn=arn + "x")
    with pytest.raises(client.exceptions.TooManyTagsException):
        client.tag_resource(
            resourceArn=arn, tags=[{"key": f"k{i}", "value": ""} for i in range(51)]
        )


def test_unsigned_requests_work(server):
    """`aws --no-sign-request`: no Authorization header at all."""
    listed = server.aws("list-meshes", "--no-sign-request").json
    assert listed == {"meshes": []}


def test_openapi_is_served(server):
    import json
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/openapi.json", timeout=10) as response:
        document = json.load(response)
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {
        "CreateMesh",
        "UpdateRoute",
        "ListVirtualNodes",
        "TagResource",
        "ApplyMeshFile",
    } <= operations
    create_node = document["paths"]["/v20190125/meshes/{meshName}/virtualNodes"]["put"]
    assert "CreateVirtualNodeInput" in json.dumps(create_node["requestBody"])


def test_tag_limits_and_next_tokens_follow_the_model(server, model):
    client = server.boto3()
    assert (model["shapes"]["TagsLimit"]["min"], model["shapes"]["TagsLimit"]["max"]) == (1, 50)
    arn = client.create_mesh(
        meshName="m1", tags=[{"key": f"k{i:02}", "value": ""} for i in range(50)]
    )["mesh"]["metadata"]["arn"]
    assert len(client.list_tags_for_resource(resourceArn=arn, limit=50)["tags"]) == 50
    with pytest.raises(
        client.exceptions.BadRequestException, match=r"limit: must be between 1 and 50 \(got 51\)"
    ):
        client.list_tags_for_resource(resourceArn=arn, limit=51)
    assert (
        client.list_meshes(limit=100)["meshes"][0]["meshName"] == "m1"
    )  # ListMeshesLimit: up to 100
    # A token that is not base64 is refused, not read as "" (which answered the first page again).
    for token in ("!!!!", "a b", "===="):
        with pytest.raises(
            client.exceptions.BadRequestException, match="nextToken: not a token this API returned"
        ):
            client.list_tags_for_resource(resourceArn=arn, limit=1, nextToken=token)
        with pytest.raises(client.exceptions.BadRequestException, match="nextToken"):
            client.list_meshes(nextToken=token)
    first = client.list_tags_for_resource(resourceArn=arn, limit=1)
    assert client.list_tags_for_resource(resourceArn=arn, limit=1, nextToken=first["nextToken"])[
        "tags"
    ] == [{"key": "k01", "value": ""}]


def test_a_tag_key_given_twice_is_refused(server):
    client = server.boto3()
    twice = [
        {"key": "team", "value": "a"},
        {"key": "env", "value": "lab"},
        {"key": "team", "value": "b"},
    ]
    with pytest.raises(
        client.exceptions.BadRequestException, match="tags: key 'team' is given more than once"
    ):
        client.create_mesh(meshName="m1", tags=twice)
    assert client.list_meshes()["meshes"] == []
    arn = client.create_mesh(meshName="m1", tags=[{"key": "team", "value": "x"}])["mesh"][
        "metadata"
    ]["arn"]
    with pytest.raises(
        client.exceptions.BadRequestException, match="tags: key 'team' is given more than once"
    ):
        client.tag_resource(resourceArn=arn, tags=twice)
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "x"}]
