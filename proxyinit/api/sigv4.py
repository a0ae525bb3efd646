"""Optional SigV4 verification of API requests against configured access keys.

Off by default: SDKs and the aws CLI sign every request and the signature is simply ignored
(loopback, single-tenant). With keys configured, each request must carry a valid
`AWS4-HMAC-SHA256` signature by one of them, as AWS checks it; `--no-sign-request` is refused.

Canonical request per the SigV4 spec (docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html);
for services other than S3 botocore URI-encodes the already-encoded path once more, so the
canonical URI is `quote(raw path on the wire, safe="/~")`. As AWS does, the payload hash is that
of the body received (a differing `x-amz-content-sha256` is refused), `host` must be signed, and
`x-amz-date` must be within 15 minutes of this clock. The credential scope must name this
service (`appmesh`) and this server's region (`--region`), so a request signed for S3 or for
another region is refused.

Replay: as on AWS, a captured signed request can be sent again, unchanged, until its signature
is 15 minutes old; this server keeps no nonce list. Over TLS (which AWS requires and a proxy in
front of this API should provide) nobody can capture it; a `clientToken` on every create and
update makes a replayed write a no-op instead of a second write (store/tokens.py; the SDKs
generate one). Deletes carry no token.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from pathlib import Path
from urllib.parse import quote, unquote

from proxyinit.contract import echo
from proxyinit.errors import ConfigError

# Well-formed only: anything else present in Authorization is IncompleteSignatureException (400),
# as AWS answers; a missing header is MissingAuthenticationTokenException (403).
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<akid>[^/,\s]+)/(?P<scope>[^,\s]+), ?"
    r"SignedHeaders=(?P<signed>[^,\s]+), ?Signature=(?P<sig>[0-9a-f]{64})$"
)
_SCOPE = re.compile(r"^(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request$")
SERVICE = "appmesh"
REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"  # us-west-2, us-gov-west-1, ap-southeast-1
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
# AWS refuses a signature dated more than 15 minutes either side of its clock ("Signature
# expired" / "Signature not yet current"), so a captured request cannot be replayed later
# than that (within the window it can: see the module docstring).
MAX_SKEW_SECONDS = 15 * 60
_INCOMPLETE = "IncompleteSignatureException"
_INVALID = "InvalidSignatureException"
_AUTH_FORM = "AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/REGION/SERVICE/aws4_request, SignedHeaders=h1;h2, Signature=<64 hex>"


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
            raise ConfigError(
                f"--api-keys {path!r} line {number}: expected `ACCESS_KEY_ID SECRET`, got {len(fields)} field(s)"
            )
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
    """`scope` must be `DATE/REGION/SERVICE/aws4_request` (check() makes sure it is)."""
    date, region, service, _ = scope.split("/")
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    to_sign = "\n".join(
        ("AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _malformed(match: re.Match, headers: dict[str, str]) -> str | None:
    """Why a parsed Authorization header cannot be checked, or None."""
    scope = _SCOPE.match(match["scope"])
    if scope is None:
        return f"Authorization: Credential {match['akid']}/{match['scope']} must be AKID/YYYYMMDD/REGION/SERVICE/aws4_request"
    if "host" not in match["signed"].split(";"):
        return f"Authorization: 'host' must be a SignedHeader (SignedHeaders={match['signed']})"
    amz_date = headers.get("x-amz-date", "")
    if not _AMZ_DATE.match(amz_date):
        return f"X-Amz-Date: must be YYYYMMDDTHHMMSSZ, as the signature covers it (got {echo(amz_date)})"
    if scope["date"] != amz_date[:8]:
        return (
            f"Date in Credential scope ({scope['date']}) does not match YYYYMMDD from ISO-8601 version "
            f"of date from HTTP ({amz_date})"
        )
    return None


def _wrong_scope(scope: str, region: str) -> str | None:
    """A signature for another service or region is refused, as AWS refuses it: a request
    signed for S3 (or us-east-1) must not be replayable here."""
    match = _SCOPE.match(scope)
    if match["service"] != SERVICE:
        return (
            f"Credential should be scoped to correct service: '{SERVICE}' "
            f"(got {echo(match['service'])})"
        )
    if match["region"] != region:
        return (
            f"Credential should be scoped to a valid region: '{region}', this server's --region "
            f"(got {echo(match['region'])})"
        )
    return None


def _skew(amz_date: str, now: float) -> str | None:
    try:
        signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except ValueError:  # matched the pattern but is no date, e.g. month 13
        return f"X-Amz-Date: {amz_date} is not a valid date"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    if signed_at < now - MAX_SKEW_SECONDS:
        return f"Signature expired: {amz_date} is now earlier than {stamp} - 15 min. (check the client's clock)"
    if signed_at > now + MAX_SKEW_SECONDS:
        return f"Signature not yet current: {amz_date} is still later than {stamp} + 15 min. (check the client's clock)"
    return None


def check(
    keys: dict[str, str],
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    body: bytes,
    now: float | None = None,
    *,
    region: str,
) -> tuple[str, str] | None:
    """None if the request is validly signed for `appmesh` in `region`, else (error code,
    message). Never raises on input."""
    authorization = headers.get("authorization")
    if authorization is None:
        return (
            "MissingAuthenticationTokenException",
            "the request is not signed (SigV4 verification is on)",
        )
    match = _AUTH.match(authorization)
    if match is None:
        return _INCOMPLETE, f"Authorization: expected `{_AUTH_FORM}` (got {echo(authorization)})"
    why = _malformed(match, headers)
    if why is not None:
        return _INCOMPLETE, why
    why = _wrong_scope(match["scope"], region) or _skew(
        headers["x-amz-date"], time.time() if now is None else now
    )
    if why is not None:
        return _INVALID, why
    # The hash of the body received, never the client's claim: a signature over a claimed hash
    # would otherwise authorise any body sent with it.
    payload = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != payload:
        return (
            _INVALID,
            f"x-amz-content-sha256 {echo(claimed)} is not the SHA-256 of the body received ({payload})",
        )
    secret = keys.get(match["akid"])
    if secret is None:
        return "UnrecognizedClientException", f"access key {match['akid']!r} is not configured"
    signed = match["signed"].split(";")
    canonical_headers = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    canonical = "\n".join(
        (
            method,
            quote(raw_path, safe="/~"),
            _canonical_query(raw_query),
            canonical_headers,
            match["signed"],
            payload,
        )
    )
    good = expected_signature(secret, match["scope"], headers["x-amz-date"], canonical)
    if not hmac.compare_digest(good, match["sig"]):
        return _INVALID, "the request signature does not match (check the secret access key)"
    return None


def install_verifier(app, keys: dict[str, str], region: str) -> None:
    """Pure ASGI middleware: buffer the body, verify, replay the body to the app."""
    from proxyinit.api.limits import install_http_layer, replay_body
    from proxyinit.api.shapes import error

    async def verify(scope, receive, send, downstream):
        # The body cap (limits.py) ran first: at most 1 MiB arrives here, in one piece.
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refused = check(
            keys,
            scope["method"],
            scope.get("raw_path", scope["path"].encode()).decode("latin-1"),
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            body,
            region=region,
        )
        if refused is not None:
            return await error(*refused)(scope, receive, send)
        return await downstream(scope, replay_body(body, receive), send)

    install_http_layer(app, verify)


def check_region(region: str | None, flag: str = "--region") -> str | None:
    """The server's region as given on the command line (None: not given); ConfigError if it is
    not shaped like an AWS region."""
    if region is not None and not re.fullmatch(REGION, region):
        raise ConfigError(f"{flag} {echo(region, 80)}: expected an AWS region such as us-west-2")
    return region
