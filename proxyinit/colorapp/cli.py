"""`proxyinit colorapp teller|gateway`: the walkthrough's apps as a container command."""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("colorapp", help="run the walkthrough's colorteller or colorgateway app (port 9080)")
    parser.add_argument("app", choices=("teller", "gateway"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SERVER_PORT", "9080")))
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.app == "teller":
        from proxyinit.colorapp.teller import run

        run("0.0.0.0", args.port, os.environ.get("COLOR", "white"))
    else:
        from proxyinit.colorapp.gateway import DEFAULT_TELLER, run

        run("0.0.0.0", args.port, os.environ.get("COLOR_TELLER_ENDPOINT", DEFAULT_TELLER))
    return 0
