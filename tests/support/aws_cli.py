"""The aws CLI's own driver (awscli.clidriver, what the `aws` script runs) called in this process.

The same argument parsing, client-side parameter validation, request signing and error output as
`aws` in a subprocess, without ~0.5-1.5 s of interpreter start-up, imports and model loading per
call on a loaded 2-core machine (one driver serves many calls, as one `aws` shell session would
not): a replay of hundreds of calls then takes seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import io
import os
from unittest import mock

from tests.api.conftest import ENV, REGION, AwsResult


class AwsCli:
    def __init__(self, endpoint_url: str):
        from awscli.clidriver import create_clidriver

        self.endpoint_url = endpoint_url
        with mock.patch.dict(os.environ, ENV):
            self.driver = create_clidriver()

    def appmesh(self, *args: str) -> AwsResult:
        """`aws appmesh <args> --endpoint-url <endpoint_url> --output json`."""
        argv = ["appmesh", *args, "--endpoint-url", self.endpoint_url, "--region", REGION]
        out, err = io.StringIO(), io.StringIO()
        with (
            mock.patch.dict(os.environ, ENV),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = self.driver.main([*argv, "--output", "json"])
        return AwsResult(code, out.getvalue(), err.getvalue())
