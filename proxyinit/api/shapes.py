"""Records -> the App Mesh response shapes (`MeshData`, `VirtualNodeRef`, ...) and errors.

Shapes follow botocore's `appmesh/2019-01-25/service-2.json`: timestamps are epoch seconds
(rest-json's default), `status` is `{"status": ACTIVE|DELETED}`.
"""

from __future__ import annotations

import base64
import binascii

from fastapi.responses import JSONResponse

from proxyinit.store.base import PARENT, Record
from proxyinit.store.records import NAME_KEY

# URL collection segment and List output member of each kind (the model's requestUri).
COLLECTION = {
    "Mesh": "meshes",
    "VirtualNode": "virtualNodes",
    "VirtualService": "virtualServices",
    "VirtualRouter": "virtualRouters",
    "Route": "routes",
    "VirtualGateway": "virtualGateways",
    "GatewayRoute": "gatewayRoutes",
}
ERROR_STATUS = {
    "BadRequestException": 400,
    "NotFoundException": 404,
    "ConflictException": 409,
    "ResourceInUseException": 409,
    "TooManyTagsException": 400,
    "ForbiddenException": 403,
    "InternalServerErrorException": 500,
    # SigV4 verification (sigv4.py): the codes AWS front ends answer with.
    "MissingAuthenticationTokenException": 403,
    "UnrecognizedClientException": 403,
    "IncompleteSignatureException": 400,
    "InvalidSignatureException": 403,
}


def _names(record: Record) -> dict:
    key = record.key
    out = {"meshName": key.mesh}
    if key.kind in PARENT:
        out[PARENT[key.kind][1]] = key.router
    if key.kind != "Mesh":
        out[NAME_KEY[key.kind]] = key.name
    return out


def _times(record: Record) -> dict:
    return {
        "arn": record.arn,
        "createdAt": record.created_at,
        "lastUpdatedAt": record.updated_at,
        "meshOwner": record.owner,
        "resourceOwner": record.owner,
        "version": record.version,
    }


def data(record: Record, status: str = "ACTIVE", reasons: list[str] | None = None) -> dict:
    """`<Kind>Data`: the bare body of Create/Describe/Update/Delete responses. `reasons`: why
    part of a served node's config is refused (a certificate missing from `--certs`), added to
    its status as `reason` (the aws CLI shows only `status`; the raw API shows both)."""
    state = {"status": status}
    if reasons:
        state["reason"] = "; ".join(reasons)
    return {
        **_names(record),
        "metadata": {**_times(record), "uid": record.uid},
        "spec": record.spec,
        "status": state,
    }


def ref(record: Record) -> dict:
    """`<Kind>Ref`: one item of a List response."""
    return {**_names(record), **_times(record)}


def error(code: str, message: str, status: int | None = None) -> JSONResponse:
    """App Mesh's error: the code in `x-amzn-ErrorType` (botocore reads it there), message in the body."""
    return JSONResponse(
        {"message": message}, status or ERROR_STATUS[code], headers={"x-amzn-ErrorType": code}
    )


class ApiError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def check_limit(limit: int | None, maximum: int = 100) -> int:
    """The model's `<List>Limit` (1-100), or `TagsLimit` (1-50) with maximum=50."""
    if limit is None:
        return 100  # the model: "returns up to 100 results" without a limit
    if not 1 <= limit <= maximum:
        raise ApiError(
            "BadRequestException", f"limit: must be between 1 and {maximum} (got {limit})"
        )
    return limit


def page(
    items: list, name_of, limit: int | None, token: str | None, max_limit: int = 100
) -> tuple[list, str | None]:
    """One page of `items` (sorted by name) after `token`; the token names the last item sent."""
    limit = check_limit(limit, max_limit)
    if token:
        after = _decode(token)
        items = [i for i in items if name_of(i) > after]
    chunk = items[:limit]
    more = len(items) > limit
    return chunk, (base64.urlsafe_b64encode(name_of(chunk[-1]).encode()).decode() if more else None)


def _decode(token: str) -> str:
    # validate=True: without it b64decode drops every character outside the alphabet, so "!!!!"
    # decoded to "" and answered the first page again. Tokens name a non-empty resource name.
    # Tokens name a resource (1-255 characters, so at most 1,360 base64 characters).
    try:
        after = (
            ""
            if len(token) > 1360
            else base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
        )
    except (binascii.Error, UnicodeError, ValueError):
        after = ""
    if not after or len(after) > 255:
        raise ApiError(
            "BadRequestException", f"nextToken: not a token this API returned (got {token[:80]!r})"
        )
    return after
