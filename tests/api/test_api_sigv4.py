"""SigV4: ignored by default (see test_unsigned_requests_work); verified when keys are configured."""

from __future__ import annotations

import pytest

from tests.api.conftest import ENV, Server


@pytest.fixture
def signed_server(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"# test key\n{ENV['AWS_ACCESS_KEY_ID']} {ENV['AWS_SECRET_ACCESS_KEY']}\n")
    server = Server(tmp_path / "mesh.db", extra_args=["--api-keys", str(keys)])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_valid_signatures_pass_and_others_are_refused(signed_server):
    import boto3

    client = signed_server.boto3()
    client.create_mesh(meshName="m1", tags=[{"key": "a b", "value": "c/d"}])
    arn = client.describe_mesh(meshName="m1")["mesh"]["metadata"]["arn"]
    assert client.list_tags_for_resource(resourceArn=arn, limit=5)["tags"] == [{"key": "a b", "value": "c/d"}]
    assert signed_server.aws("list-meshes").json["meshes"][0]["meshName"] == "m1"
    unsigned = signed_server.aws("list-meshes", "--no-sign-request", check=False)
    assert "(MissingAuthenticationTokenException)" in unsigned.stderr
    wrong = boto3.client("appmesh", endpoint_url=signed_server.url, region_name="us-west-2",
                         aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key="wrong")
    with pytest.raises(wrong.exceptions.ClientError, match="InvalidSignatureException"):
        wrong.list_meshes()
    stranger = boto3.client("appmesh", endpoint_url=signed_server.url, region_name="us-west-2",
                            aws_access_key_id="AKIDSTRANGER", aws_secret_access_key="x")
    with pytest.raises(stranger.exceptions.ClientError, match="UnrecognizedClientException"):
        stranger.list_meshes()
