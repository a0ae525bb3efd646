"""The FastAPI app: App Mesh's 2019-01-25 operations for Mesh, VirtualNode, VirtualService,
VirtualRouter, Route, VirtualGateway and GatewayRoute, plus tags, over a MeshStore.

Methods and paths are the model's (`requestUri` in botocore's service-2.json; tests check every
operation against it). Handlers are generated per kind from one table, with real signatures so
the OpenAPI document describes each path, query parameter and body.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, FastAPI, Path, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from proxyinit.api import shapes
from proxyinit.api.errors import install_error_handlers, region_of
from proxyinit.store.base import KINDS, PARENT, Key
from proxyinit.store.meshes import MeshStore
from proxyinit.store.records import NAME_KEY

PREFIX = "/v20190125"


_TOKEN = re.compile(r"[A-Za-z0-9_-]*")


def _token_characters(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValueError("only letters, digits, '-' and '_' are allowed (App Mesh's rule)")
    return value


# clientToken: "Up to 36 letters, numbers, hyphens, and underscores" (the model's documentation;
# its shape, String, has no bound). Unbounded, a 100 MB token was stored with the resource.
ClientToken = Annotated[str, Field(max_length=36), AfterValidator(_token_characters)]
TagKey = Annotated[str, Field(min_length=1, max_length=128)]


class TagRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: TagKey
    value: str = Field(default="", max_length=256)


def _spec_class(kind: str) -> type:
    from proxyinit.mesh.model import gateway, resources

    return getattr(gateway if "Gateway" in kind else resources, f"{kind}Spec")


def _collection_path(kind: str) -> str:
    if kind == "Mesh":
        return f"{PREFIX}/meshes"
    if kind in PARENT:  # singular `virtualRouter`/`virtualGateway` here, as in the model
        parent, key = PARENT[kind]
        segment = parent[0].lower() + parent[1:]
        return f"{PREFIX}/meshes/{{meshName}}/{segment}/{{{key}}}/{shapes.COLLECTION[kind]}"
    return f"{PREFIX}/meshes/{{meshName}}/{shapes.COLLECTION[kind]}"


def _parent_params(kind: str) -> list[str]:
    if kind == "Mesh":
        return []
    return ["meshName", PARENT[kind][1]] if kind in PARENT else ["meshName"]


def _bodies(kind: str) -> tuple[type, type]:
    spec = _spec_class(kind)
    spec_field = (spec | None, None) if kind == "Mesh" else (spec, ...)
    common: dict[str, Any] = {
        "__config__": ConfigDict(extra="forbid"),
        "clientToken": (ClientToken | None, None),
    }
    create = create_model(
        f"Create{kind}Input",
        **common,
        spec=spec_field,
        tags=(list[TagRef] | None, None),
        **{NAME_KEY[kind]: (str, ...)},
    )
    update = create_model(f"Update{kind}Input", **common, spec=spec_field)
    return create, update


def _endpoint(fn: Callable, params: list[inspect.Parameter]) -> Callable:
    """An async handler with an explicit signature, so FastAPI parses and documents each part."""

    async def handler(**kwargs):
        return await fn(**kwargs)

    handler.__signature__ = inspect.Signature(params)
    handler.__name__ = fn.__name__
    return handler


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _key(kind: str, path: dict, name: str) -> Key:
    mesh = name if kind == "Mesh" else path["meshName"]
    return Key(kind, mesh, path[PARENT[kind][1]] if kind in PARENT else "", name)


_NODE_KINDS = {"VirtualNode": "virtualNode", "VirtualGateway": "virtualGateway"}


def _served(store: MeshStore, record) -> dict:
    """`shapes.data` of `record`, with the serving side's problems for a node or gateway."""
    problems = getattr(store.pipeline, "problems", None)  # the control plane's publisher
    key = record.key
    if problems is None or key.kind not in _NODE_KINDS:
        return shapes.data(record)
    node_id = f"mesh/{key.mesh}/{_NODE_KINDS[key.kind]}/{key.name}"
    return shapes.data(record, reasons=problems().get(node_id))


def _add_kind(app: FastAPI, store: MeshStore, kind: str) -> None:
    collection = _collection_path(kind)
    item = f"{collection}/{{{NAME_KEY[kind]}}}"
    create_body, update_body = _bodies(kind)
    # ResourceName: 1-255 characters, in the path as in a body (a 5,000 character name was
    # looked up and echoed whole in the NotFound message).
    parents = [_param(p, str, Path(max_length=255)) for p in _parent_params(kind)]
    owner = _param("meshOwner", str | None, Query(None, max_length=12))  # AccountId
    name_param = _param(NAME_KEY[kind], str, Path(max_length=255))
    request = _param("request", Request, inspect.Parameter.empty)

    async def create(request: Request, body, **path):
        name = getattr(body, NAME_KEY[kind])
        spec = body.spec.to_api() if body.spec is not None else None
        tags = tuple((t.key, t.value) for t in body.tags or ())
        record = await store.create(
            _key(kind, path, name),
            spec,
            tags,
            body.clientToken or "",
            # The server's --region if it has one, else the one the client signed for.
            request.app.state.region or region_of(request),
        )
        return _served(store, record)

    async def update(body, **path):
        spec = body.spec.to_api() if body.spec is not None else None
        return _served(
            store,
            await store.update(
                _key(kind, path, path[NAME_KEY[kind]]), spec, body.clientToken or ""
            ),
        )

    async def describe(**path):
        return _served(store, store.get(_key(kind, path, path[NAME_KEY[kind]])))

    async def delete(**path):
        return shapes.data(
            await store.delete(_key(kind, path, path[NAME_KEY[kind]])), status="DELETED"
        )

    async def list_(limit=None, nextToken=None, **path):
        records = (
            store.meshes_records()
            if kind == "Mesh"
            else store.children(
                kind, path["meshName"], path[PARENT[kind][1]] if kind in PARENT else ""
            )
        )
        chunk, token = shapes.page(records, lambda r: r.key.name, limit, nextToken)
        return {shapes.COLLECTION[kind]: [shapes.ref(r) for r in chunk], "nextToken": token}

    paths = [p for p in parents if kind != "Mesh"]
    query = [_param("limit", int | None, Query(None)), _param("nextToken", str | None, Query(None))]
    routes = (
        (
            "PUT",
            collection,
            create,
            f"Create{kind}",
            [request, *paths, owner, _param("body", create_body, Body())],
        ),
        (
            "GET",
            collection,
            list_,
            f"List{shapes.COLLECTION[kind][0].upper()}{shapes.COLLECTION[kind][1:]}",
            [*paths, owner, *query],
        ),
        ("GET", item, describe, f"Describe{kind}", [*paths, name_param, owner]),
        (
            "PUT",
            item,
            update,
            f"Update{kind}",
            [*paths, name_param, owner, _param("body", update_body, Body())],
        ),
        ("DELETE", item, delete, f"Delete{kind}", [*paths, name_param, owner]),
    )
    for method, path, fn, operation, params in routes:
        app.add_api_route(
            path, _drop_owner(fn, params), methods=[method], name=operation, operation_id=operation
        )


def _drop_owner(fn: Callable, params: list[inspect.Parameter]) -> Callable:
    # meshOwner is accepted (SDKs send it for shared meshes) but there is one owner here.
    async def call(**kwargs):
        kwargs.pop("meshOwner", None)
        return await fn(**kwargs)

    call.__name__ = fn.__name__
    return _endpoint(call, params)


def _add_tags(app: FastAPI, store: MeshStore) -> None:
    arn = _param("resourceArn", str, Query(max_length=2048))  # IAM's bound on an ARN

    async def tag(resourceArn: str, body):
        await store.set_tags(resourceArn, add=[(t.key, t.value) for t in body.tags])
        return {}

    async def untag(resourceArn: str, body):
        await store.set_tags(resourceArn, remove=body.tagKeys)
        return {}

    async def list_tags(resourceArn: str, limit=None, nextToken=None):
        tags = sorted(store.by_arn(resourceArn).tags)
        chunk, token = shapes.page(
            tags, lambda t: t[0], limit, nextToken, max_limit=50
        )  # TagsLimit: 1-50
        return {"tags": [{"key": k, "value": v} for k, v in chunk], "nextToken": token}

    tag_body = create_model(
        "TagResourceInput", __config__=ConfigDict(extra="forbid"), tags=(list[TagRef], ...)
    )
    untag_body = create_model(
        "UntagResourceInput",
        __config__=ConfigDict(extra="forbid"),
        tagKeys=(Annotated[list[TagKey], Field(max_length=50)], ...),
    )
    query = [_param("limit", int | None, Query(None)), _param("nextToken", str | None, Query(None))]
    for method, path, fn, operation, params in (
        ("PUT", f"{PREFIX}/tag", tag, "TagResource", [arn, _param("body", tag_body, Body())]),
        (
            "PUT",
            f"{PREFIX}/untag",
            untag,
            "UntagResource",
            [arn, _param("body", untag_body, Body())],
        ),
        ("GET", f"{PREFIX}/tags", list_tags, "ListTagsForResource", [arn, *query]),
    ):
        app.add_api_route(
            path, _endpoint(fn, params), methods=[method], name=operation, operation_id=operation
        )


def create_app(
    store: MeshStore, keys: dict[str, str] | None = None, region: str | None = None
) -> FastAPI:
    """The API over `store`. `keys` ({access key id: secret}) turns on SigV4 verification,
    for `region` (default: the store's region, which its ARNs name)."""
    app = FastAPI(
        title="App Mesh API (proxyinit)",
        version="2019-01-25",
        description="AWS App Mesh 2019-01-25 REST API, self-hosted by proxyinit.",
    )
    app.state.region = region
    install_error_handlers(app, keys, region or store.region)
    for kind in KINDS:
        _add_kind(app, store, kind)
    _add_tags(app, store)
    from proxyinit.api.apply_route import add_apply

    add_apply(app, store)
    from proxyinit.api.limits import install_body_cap

    install_body_cap(app)  # last installed, so first to run: before SigV4 reads the body
    return app
