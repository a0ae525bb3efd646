"""SigV4: ignored by default (see test_unsigned_requests_work); verified when keys are configured."""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from proxyinit.api import sigv4
from tests.api.conftest import AWS, ENV
from tests.support.http_call import http_call
from tests.support.sigv4 import JSON, signed_headers, signed_server


@pytest.fixture(name="signed_server")
def signed_server_fixture(tmp_path):
    with signed_server(tmp_path) as server:
        yield server


def test_valid_signatures_pass_and_others_are_refused(signed_server):
    import boto3

    client = signed_server.boto3()
    client.create_mesh(meshName="m1", tags=[{"key": "a b", "value": "c/d"}])
    arn = client.describe_mesh(meshName="m1")["mesh"]["metadata"]["arn"]
    assert client.list_tags_for_resource(resourceArn=arn, limit=5)["tags"] == [
        {"key": "a b", "value": "c/d"}
    ]
    assert signed_server.aws("list-meshes").json["meshes"][0]["meshName"] == "m1"
    unsigned = signed_server.aws("list-meshes", "--no-sign-request", check=False)
    assert "(MissingAuthenticationTokenException)" in unsigned.stderr
    wrong = boto3.client(
        "appmesh",
        endpoint_url=signed_server.url,
        region_name="us-west-2",
        aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key="wrong",
    )
    with pytest.raises(wrong.exceptions.ClientError, match="InvalidSignatureException"):
        wrong.list_meshes()
    stranger = boto3.client(
        "appmesh",
        endpoint_url=signed_server.url,
        region_name="us-west-2",
        aws_access_key_id="AKIDSTRANGER",
        aws_secret_access_key="x",
    )
    with pytest.raises(stranger.exceptions.ClientError, match="UnrecognizedClientException"):
        stranger.list_meshes()


def send(port: int, method: str, path: str, body: bytes, headers: dict) -> tuple[int, dict, dict]:
    status, answer_headers, answer = http_call(port, method, path, body or None, headers)
    return status, answer_headers, json.loads(answer or b"{}")


KEYS = {ENV["AWS_ACCESS_KEY_ID"]: ENV["AWS_SECRET_ACCESS_KEY"]}
URL = "http://127.0.0.1:15080"


def verify(
    headers: dict, body: bytes = b"", now: float | None = None, path: str = "/v20190125/meshes"
):
    received = {
        "host": "127.0.0.1:15080",
        **{k.lower(): v for k, v in headers.items()},
    }  # as the HTTP client sends it
    return sigv4.check(
        KEYS,
        "GET",
        path,
        "",
        received,
        body,
        **({} if now is None else {"now": now}),
        region="us-west-2",
    )


def test_botocore_signatures_verify():
    assert verify(signed_headers(URL + "/v20190125/meshes")) is None


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 Credential={akid}/x, SignedHeaders=host;x-amz-date, Signature="
        + "0" * 64,
        "AWS4-HMAC-SHA256 Credential={akid}/20260101/us-west-2/appmesh, SignedHeaders=host, Signature="
        + "0" * 64,
        "AWS4-HMAC-SHA256 Credential={akid}/a/b/c/d/e, SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential={akid}/, SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential={akid}, SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential={akid}/20260101/us-west-2/appmesh/aws4_request, SignedHeaders=host, Signature=zz",
        "AWS4-HMAC-SHA256",
        "Bearer abc",
        "",
        " ",
    ],
)
def test_malformed_authorization_is_incomplete_signature(authorization):
    headers = signed_headers(URL + "/v20190125/meshes")
    headers["Authorization"] = authorization.format(akid=ENV["AWS_ACCESS_KEY_ID"])
    code, message = verify(headers)
    assert code == "IncompleteSignatureException" and "Authorization" in message


def test_host_must_be_signed():
    from botocore.auth import SigV4Auth

    class WithoutHost(SigV4Auth):
        def headers_to_sign(self, request):
            headers = super().headers_to_sign(request)
            del headers["host"]
            return headers

    headers = signed_headers(
        URL + "/v20190125/meshes", signer=WithoutHost
    )  # a valid signature, host unsigned
    assert "host" not in headers["Authorization"]
    assert verify(headers) == (
        "IncompleteSignatureException",
        "Authorization: 'host' must be a SignedHeader (SignedHeaders=x-amz-date)",
    )


def test_signatures_older_or_newer_than_15_minutes_are_refused():
    headers = signed_headers(URL + "/v20190125/meshes")
    signed_at = calendar.timegm(time.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    assert verify(headers, now=signed_at + 14 * 60) is None
    assert verify(headers, now=signed_at - 14 * 60) is None
    code, message = verify(headers, now=signed_at + 16 * 60)
    assert code == "InvalidSignatureException" and message.startswith("Signature expired:")
    code, message = verify(headers, now=signed_at - 16 * 60)
    assert code == "InvalidSignatureException" and message.startswith("Signature not yet current:")


@pytest.mark.parametrize(
    "amz_date, why",
    [
        (lambda day: "", "X-Amz-Date: must be YYYYMMDDTHHMMSSZ"),
        (
            lambda day: f"{day[:4]}-{day[4:6]}-{day[6:]}T00:00:00Z",
            "X-Amz-Date: must be YYYYMMDDTHHMMSSZ",
        ),
        (lambda day: f"{day}T256100Z", "is not a valid date"),
        (lambda day: "20200101T000000Z", "Date in Credential scope"),
    ],
)
def test_a_missing_or_bad_x_amz_date_is_refused(amz_date, why):
    headers = signed_headers(URL + "/v20190125/meshes")
    headers["X-Amz-Date"] = amz_date(headers["X-Amz-Date"][:8])
    code, message = verify(headers)
    assert code in ("IncompleteSignatureException", "InvalidSignatureException") and why in message


def test_the_body_received_is_hashed_not_the_clients_claim(signed_server):
    """A request signed over one body's claimed hash must not carry another body."""
    path = "/v20190125/meshes"
    signed_body, sent_body = b'{"meshName": "aaaa"}', b'{"meshName": "evil"}'
    headers = signed_headers(
        signed_server.url + path,
        "PUT",
        signed_body,
        {**JSON, "x-amz-content-sha256": hashlib.sha256(signed_body).hexdigest()},
    )
    port = signed_server.api_port
    status, response_headers, answer = send(port, "PUT", path, sent_body, headers)
    assert (status, response_headers["x-amzn-errortype"]) == (403, "InvalidSignatureException"), (
        answer
    )
    assert "x-amz-content-sha256" in answer["message"]
    assert signed_server.boto3().list_meshes()["meshes"] == []
    # The same request with the body it was signed for passes.
    status, _, answer = send(port, "PUT", path, signed_body, headers)
    assert status == 200 and answer["meshName"] == "aaaa", answer


def test_malformed_authorization_is_a_400_the_sdk_understands(signed_server):
    """What the aws CLI prints is botocore's ClientError text: code from x-amzn-ErrorType, message from the body."""
    client = signed_server.boto3()

    def mangle(request, **_):
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={ENV['AWS_ACCESS_KEY_ID']}/x, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
        )

    client.meta.events.register("before-send.app-mesh.ListMeshes", mangle)
    with pytest.raises(client.exceptions.ClientError) as info:
        client.list_meshes()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert str(info.value).startswith(
        "An error occurred (IncompleteSignatureException) when calling the ListMeshes "
        "operation: Authorization: Credential AKIDPROXYINITTEST/x must be"
    )
    # The aws CLI itself, with an access key id that breaks the Credential scope apart.
    env = {**os.environ, **ENV, "AWS_ACCESS_KEY_ID": ENV["AWS_ACCESS_KEY_ID"] + "/x"}
    done = subprocess.run(
        [
            AWS,
            "appmesh",
            "list-meshes",
            "--endpoint-url",
            signed_server.url,
            "--region",
            "us-west-2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode != 0
    assert (
        "An error occurred (IncompleteSignatureException) when calling the ListMeshes operation: "
        "Authorization: Credential AKIDPROXYINITTEST/x/" in done.stderr
    ), done.stderr


@pytest.mark.parametrize(
    "service, region, why",
    [
        ("s3", "us-west-2", "scoped to correct service: 'appmesh' (got 's3')"),
        ("appmesh", "eu-west-1", "scoped to a valid region: 'us-west-2'"),
        ("sts", "us-east-1", "scoped to correct service"),
    ],
)
def test_a_signature_for_another_service_or_region_is_refused(service, region, why):
    """A valid signature by a configured key, but for S3 or another region: AWS refuses it."""
    headers = signed_headers(URL + "/v20190125/meshes", service=service, region=region)
    code, message = verify(headers)
    assert code == "InvalidSignatureException" and why in message, message


def test_the_server_refuses_other_scopes_and_names_its_region(signed_server):
    """End to end with boto3: the same key signing for another region or service gets a 403."""
    import boto3

    def client(region: str, service: str = "appmesh"):
        made = boto3.client(
            "appmesh",
            endpoint_url=signed_server.url,
            region_name=region,
            aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"],
        )
        made._request_signer._signing_name = service  # what a client of another service signs
        return made

    with pytest.raises(ClientError, match=r"InvalidSignatureException.*region: 'us-west-2'"):
        client("eu-central-1").create_mesh(meshName="elsewhere")
    with pytest.raises(ClientError, match=r"InvalidSignatureException.*service: 'appmesh'"):
        client("us-west-2", "s3").create_mesh(meshName="s3-signed")
    good = client("us-west-2")
    assert good.list_meshes()["meshes"] == []  # nothing was created by the refused requests
    arn = good.create_mesh(meshName="here")["mesh"]["metadata"]["arn"]
    assert arn.startswith("arn:aws:appmesh:us-west-2:")


def test_a_large_body_is_refused_before_the_signature_check_reads_it(signed_server):
    """The verifier read the whole body (`body +=`, 150 MB took 49 s of CPU) before its 403."""
    import socket

    with socket.create_connection(("127.0.0.1", signed_server.api_port), timeout=10) as sock:
        sock.sendall(
            b"PUT /v20190125/meshes HTTP/1.1\r\nHost: x\r\nContent-Length: 157286400\r\n\r\n"
        )  # no body follows: a verifier that reads first waits here until the timeout
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413"), head
