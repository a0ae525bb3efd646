"""Records as the API sees them: names, ARNs, request digests, tags, and the create-* item
of a resource (what the mesh file and `mesh apply` read). Pure functions over `base`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace

from proxyinit.errors import ConfigError
from proxyinit.mesh.model.meshfile import parse_resource
from proxyinit.store.base import KINDS, PARENT, Key, Record
from proxyinit.store.errors import Invalid, TooManyTags

# create-* input keys naming each kind (the mesh file tells kinds apart by these too).
NAME_KEY = {
    "Mesh": "meshName",
    "VirtualNode": "virtualNodeName",
    "VirtualService": "virtualServiceName",
    "VirtualRouter": "virtualRouterName",
    "Route": "routeName",
    "VirtualGateway": "virtualGatewayName",
    "GatewayRoute": "gatewayRouteName",
}
_ARN_SEGMENT = {
    "VirtualNode": "virtualNode",
    "VirtualService": "virtualService",
    "VirtualRouter": "virtualRouter",
    "VirtualGateway": "virtualGateway",
    "Route": "route",
    "GatewayRoute": "gatewayRoute",
}
MAX_TAGS = 50  # App Mesh's limit per resource (TooManyTagsException)


def arn_of(key: Key, region: str, account: str) -> str:
    path = f"mesh/{key.mesh}"
    if key.kind in PARENT:
        path += f"/{_ARN_SEGMENT[PARENT[key.kind][0]]}/{key.router}"
    if key.kind != "Mesh":
        path += f"/{_ARN_SEGMENT[key.kind]}/{key.name}"
    return f"arn:aws:appmesh:{region}:{account}:{path}"


def digest(spec: object, tags: object) -> str:
    return hashlib.sha256(
        json.dumps([spec, tags], sort_keys=True, default=str).encode()
    ).hexdigest()


def resource_item(key: Key, spec: object) -> dict:
    """The create-* input (mesh file entry) of a resource."""
    item: dict = {"meshName": key.mesh, NAME_KEY[key.kind]: key.name}
    if key.kind in PARENT:
        item[PARENT[key.kind][1]] = key.router
    if spec is not None:
        item["spec"] = spec
    return item


def parse(key: Key, spec: object):
    """One resource -> its model; Invalid naming kind, name, field and value."""
    try:
        model = parse_resource(resource_item(key, spec))
    except ConfigError as err:
        raise Invalid(str(err)) from None
    if key.kind == "VirtualRouter" and model.preview_service_names:
        raise Invalid(
            f"VirtualRouter {key.name!r} (mesh {key.mesh!r}): spec.serviceNames: the 2018 preview shape "
            "is accepted in mesh files only; create a VirtualService with provider.virtualRouter"
        )
    return model


def order(key: Key) -> tuple[int, str, str]:
    return KINDS.index(key.kind), key.router, key.name


def check_tags(tags: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    tags = tuple(tags)
    check_unique(key for key, _ in tags)
    if len(tags) > MAX_TAGS:
        raise TooManyTags(f"{len(tags)} tags: a resource can have at most {MAX_TAGS}")
    return tags


def check_unique(keys: Iterable[str]) -> None:
    # App Mesh documents no winner for a key given twice in one request; refuse it rather than
    # store both (a resource's tag keys are unique) or silently keep one.
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise Invalid(
                f"tags: key {key!r} is given more than once; a resource's tag keys are unique"
            )
        seen.add(key)


def token_note(existing: Record, token: str) -> str:
    return (
        f" (clientToken {token!r} was used for another request)"
        if token and existing.client_token == token
        else ""
    )


def describe(key: Key) -> str:
    parent = {"Route": "virtual router", "GatewayRoute": "virtual gateway"}.get(key.kind)
    where = f" in {parent} {key.router!r}" if parent else ""
    mesh = f" in mesh {key.mesh!r}" if key.kind != "Mesh" else ""
    return f"{key.kind} {key.name!r}{where}{mesh}"


def bumped(record: Record, now: float, **changes) -> Record:
    """The next version of a record."""
    return replace(record, version=record.version + 1, updated_at=now, **changes)
