"""SigV4 for the API tests: request headers signed by botocore's own signer (an implementation
independent of ours) with the tests' key, and a server that verifies them (`--api-keys`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.api.conftest import ENV, REGION, Server

JSON = {"content-type": "application/json"}


def signed_headers(
    url: str,
    method: str = "GET",
    body: bytes = b"",
    headers: dict | None = None,
    signer: type | None = None,
    service: str = "appmesh",
    region: str = REGION,
) -> dict[str, str]:
    """Headers botocore's SigV4 signer puts on a request by the tests' key."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    credentials = Credentials(ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"])
    (signer or SigV4Auth)(credentials, service, region).add_auth(request)
    return dict(request.headers.items())


def signed_json(url: str, body: bytes, method: str = "PUT", **scope: str) -> dict[str, str]:
    """signed_headers for a JSON body (`scope`: service=, region=)."""
    return signed_headers(url, method, body, JSON, **scope)


@contextlib.contextmanager
def signed_server(directory: Path) -> Iterator[Server]:
    """A running Server (its store in `directory`) that verifies SigV4 for the tests' key, in
    REGION; stopped on exit."""
    keys = directory / "keys"  # a comment line too: the format allows one
    keys.write_text(f"# test key\n{ENV['AWS_ACCESS_KEY_ID']} {ENV['AWS_SECRET_ACCESS_KEY']}\n")
    running = Server(
        directory / "mesh.db", extra_args=["--api-keys", str(keys), "--region", REGION]
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()
