"""Errors as App Mesh sends them, and the request-edge checks (SigV4, region).

Every refusal is `{"message": ...}` with the code in `x-amzn-ErrorType`, which is where botocore
(and so the aws CLI) reads it. Bad input of any kind maps to a 4xx: FastAPI's own validation
errors and unknown paths are rewritten, so no input yields InternalServerErrorException.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from proxyinit.api.shapes import ApiError, error
from proxyinit.api.sigv4 import REGION
from proxyinit.errors import ConfigError, RuntimeFailure
from proxyinit.mesh.model.problems import describe_errors
from proxyinit.store import errors as store_errors

log = logging.getLogger(__name__)

_STORE_CODES = (
    (store_errors.NotFound, "NotFoundException"),
    (store_errors.Conflict, "ConflictException"),
    (store_errors.InUse, "ResourceInUseException"),
    (store_errors.TooManyTags, "TooManyTagsException"),
    (ConfigError, "BadRequestException"),  # Invalid and any other bad-input error
)
# Credential=AKID/20260101/us-west-2/appmesh/aws4_request
_SCOPE = re.compile(
    r"Credential=(?P<akid>[^/,\s]+)/(?P<date>\d{8})/(?P<region>" + REGION + r")/"
    r"(?P<service>[a-z0-9-]+)/aws4_request"
)


def region_of(request: Request) -> str | None:
    """The region the client signed for (`--region`), used in the ARNs of what it creates."""
    match = _SCOPE.search(request.headers.get("authorization", ""))
    return match["region"] if match else None


def validation_message(request: Request, exc: RequestValidationError) -> str:
    route = request.scope.get("route")
    operation = getattr(route, "name", "request")
    return f"{operation}: " + describe_errors(list(exc.errors()), skip=("body",))


def install_error_handlers(
    app: FastAPI, keys: dict[str, str] | None, region: str = "us-east-1"
) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError):
        return error(exc.code, exc.message)

    @app.exception_handler(ConfigError)
    async def _store(request: Request, exc: ConfigError):
        code = next(code for cls, code in _STORE_CODES if isinstance(exc, cls))
        return error(code, str(exc))

    @app.exception_handler(RuntimeFailure)
    async def _runtime(request: Request, exc: RuntimeFailure):
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return error("InternalServerErrorException", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return error("BadRequestException", validation_message(request, exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return error(
                "NotFoundException", f"no App Mesh operation at {request.method} {request.url.path}"
            )
        return error("BadRequestException", f"{request.method} {request.url.path}: {exc.detail}")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("%s %s: internal error", request.method, request.url.path)
        return error(
            "InternalServerErrorException",
            f"internal error ({type(exc).__name__}); see the server log",
        )

    if keys:
        from proxyinit.api.sigv4 import install_verifier

        install_verifier(app, keys, region)
