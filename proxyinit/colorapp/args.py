"""The apps' command-line options. Stdlib only: `proxyinit` registers them at every start."""

from __future__ import annotations

import argparse
import os


def add_server_args(parser: argparse.ArgumentParser) -> None:
    # String defaults: argparse converts them only when this command runs, so a bad
    # SERVER_PORT is a clear usage error of this command, never of `proxyinit` as a whole.
    parser.add_argument("--host", default=os.environ.get("SERVER_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=os.environ.get("SERVER_PORT", "9080"))
    parser.add_argument(
        "--uid", type=int, default=None, help="run as this uid/gid after binding (when root)"
    )
