"""One raw HTTP request to a loopback server, the body sent exactly as given, so the API tests
reach the server with what a client library would refuse or rewrite."""

from __future__ import annotations

import http.client


def http_call(
    port: int, method: str, path: str, body: bytes | None, headers: dict | None = None, timeout=10
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of one request; content-type JSON unless
    `headers` name one."""
    sent = dict(headers or {})
    if not any(name.lower() == "content-type" for name in sent):
        sent["content-type"] = "application/json"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()
