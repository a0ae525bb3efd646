"""Optional SigV4 verification of API requests against configured access keys.

Off by default: SDKs and the aws CLI sign every request and the signature is simply ignored
(loopback, single-tenant). With keys configured, each request must carry a valid
`AWS4-HMAC-SHA256` signature by one of them, as AWS checks it; `--no-sign-request` is refused.

Canonical request per the SigV4 spec (docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html);
for services other than S3 botocore URI-encodes the already-encoded path once more, so the
canonical URI is `quote(raw path on the wire, safe="/~")`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path
from urllib.parse import quote, unquote

from proxyinit.errors import ConfigError

_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=(?P<akid>[^/]+)/(?P<scope>[^,]+), ?SignedHeaders=(?P<signed>[^,]+), ?Signature=(?P<sig>[0-9a-f]{64})$")


def load_keys(path: str) -> dict[str, str]:
    """A keys file: one `ACCESS_KEY_ID SECRET_ACCESS_KEY` per line; `#` starts a comment."""
    keys: dict[str, str] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ConfigError(f"--api-keys {path!r}: cannot read it ({err.strerror or err})") from None
    for number, line in enumerate(lines, 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2:
            raise ConfigError(f"--api-keys {path!r} line {number}: expected `ACCESS_KEY_ID SECRET`, got {len(fields)} field(s)")
        keys[fields[0]] = fields[1]
    if not keys:
        raise ConfigError(f"--api-keys {path!r}: no keys in it")
    return keys


def _canonical_query(raw: str) -> str:
    pairs = []
    for part in raw.split("&") if raw else ():
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def expected_signature(secret: str, scope: str, amz_date: str, canonical: str) -> str:
    date, region, service, _ = scope.split("/")
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    to_sign = "\n".join(("AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()))
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def check(keys: dict[str, str], method: str, raw_path: str, raw_query: str, headers: dict[str, str], body: bytes) -> tuple[str, str] | None:
    """None if the request is validly signed, else (error code, message)."""
    match = _AUTH.match(headers.get("authorization", ""))
    if match is None:
        return "MissingAuthenticationTokenException", "the request is not signed (SigV4 verification is on)"
    secret = keys.get(match["akid"])
    if secret is None:
        return "UnrecognizedClientException", f"access key {match['akid']!r} is not configured"
    signed = match["signed"].split(";")
    canonical_headers = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    payload = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join((method, quote(raw_path, safe="/~"), _canonical_query(raw_query), canonical_headers,
                           match["signed"], payload))
    good = expected_signature(secret, match["scope"], headers.get("x-amz-date", ""), canonical)
    if not hmac.compare_digest(good, match["sig"]):
        return "InvalidSignatureException", "the request signature does not match (check the secret access key)"
    return None


def install_verifier(app, keys: dict[str, str]) -> None:
    """Pure ASGI middleware: buffer the body, verify, replay the body to the app."""
    from proxyinit.api.shapes import error

    inner = app.build_middleware_stack

    def build():
        downstream = inner()

        async def verify(scope, receive, send):
            if scope["type"] != "http":
                return await downstream(scope, receive, send)
            body, more = b"", True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            refused = check(keys, scope["method"], scope.get("raw_path", scope["path"].encode()).decode("latin-1"),
                            scope.get("query_string", b"").decode("latin-1"), headers, body)
            if refused is not None:
                return await error(*refused)(scope, receive, send)
            replayed = False

            async def replay():
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await downstream(scope, replay, send)

        return verify

    app.build_middleware_stack = build
