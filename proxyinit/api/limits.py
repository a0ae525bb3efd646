"""The request body cap: the outermost layer of the API, before SigV4 or FastAPI reads a byte.

App Mesh's largest valid request (a route with ten headers and ten query parameters, a node
with fifty backends) is a few tens of KiB, so 1 MiB refuses nothing real. Without a cap, three
creates with a 100 MB `clientToken` were stored (315 MB of database) and a 150 MB signed body
cost 49 s of CPU before its 403. `POST /proxyinit/v1/apply` carries a whole mesh file and gets
the mesh file's bound instead.

A declared Content-Length over the cap is refused from the head alone; a chunked body is counted
as it arrives and refused as soon as it passes the cap. Either way the connection is closed, so
the rest of the body is never read. A JSON body with a key given twice is refused here too,
as it is read once for every layer after this one.
"""

from __future__ import annotations

from proxyinit.bounds import MAX_MESH_FILE_BYTES

MAX_REQUEST_BYTES = 1024 * 1024
_APPLY_PREFIX = "/proxyinit/"


def cap_for(path: str) -> int:
    return MAX_MESH_FILE_BYTES if path.startswith(_APPLY_PREFIX) else MAX_REQUEST_BYTES


def _declared_length(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            return value
    return None


def _too_large(what: str, cap: int):
    from proxyinit.api.shapes import error

    response = error(
        "BadRequestException",
        f"request body: {what}; this endpoint takes at most {cap} bytes "
        f"({cap // (1024 * 1024)} MiB) per request",
        status=413,
    )
    response.headers["connection"] = "close"  # the unread rest of the body is never read
    return response


class _Disconnected(Exception):
    """The client hung up mid-body: the request never completed, so nothing is done with it."""


async def _read_capped(receive, cap: int) -> bytes | None:
    """The whole body, or None as soon as it passes `cap` (nothing more is read)."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def install_http_layer(app, layer) -> None:
    """Wrap `app`'s middleware stack in `layer(scope, receive, send, downstream)`, a pure ASGI
    layer for HTTP requests (others go straight through); the last one installed runs first."""
    inner = app.build_middleware_stack

    def build():
        downstream = inner()

        async def wrapped(scope, receive, send):
            if scope["type"] != "http":
                return await downstream(scope, receive, send)
            return await layer(scope, receive, send, downstream)

        return wrapped

    app.build_middleware_stack = build


def install_body_cap(app) -> None:
    """Wrap `app`'s middleware stack (call it after every other wrapper: it must run first)."""
    install_http_layer(app, _capped)


async def _capped(scope, receive, send, downstream):
    cap = cap_for(scope["path"])
    declared = _declared_length(scope["headers"])
    # (A length of 20 digits or more is over any cap: no int() of a huge string.)
    if declared is not None and declared.isdigit() and (len(declared) > 19 or int(declared) > cap):
        what = f"Content-Length {declared[:40].decode('latin-1')} is over the limit"
        return await _too_large(what, cap)(scope, receive, send)
    try:
        body = await _read_capped(receive, cap)
    except _Disconnected:
        return None  # nobody to answer; a partial body must not reach a handler
    if body is None:
        return await _too_large(f"more than {cap} bytes sent", cap)(scope, receive, send)
    duplicate = _duplicate_key(body)
    if duplicate is not None:
        from proxyinit.api.shapes import error

        message = f"request body: key {duplicate} is given more than once"
        return await error("BadRequestException", message)(scope, receive, send)
    return await downstream(scope, replay_body(body, receive), send)


class _Duplicate(Exception):
    pass


def _pairs(pairs: list[tuple[str, object]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


def _duplicate_key(body: bytes) -> str | None:
    """A key given twice in a JSON object (Python's json keeps the last one silently: a check
    reading the first and a write using the last would disagree), shortened; else None.
    Anything that is not JSON is left for the app to refuse with its own message."""
    if not body:
        return None
    import json

    from proxyinit.contract import echo

    try:
        json.loads(body, object_pairs_hook=_pairs)
    except _Duplicate as duplicate:
        return echo(duplicate.args[0], 80)
    except (ValueError, RecursionError):
        pass
    return None


def replay_body(body: bytes, receive):
    """A `receive` that gives the buffered body once, then the client's later messages."""
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
