"""`proxyinit colorapp teller|gateway`: the walkthrough's apps as a container command."""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    from proxyinit.colorapp.args import add_server_args  # stdlib only

    parser = sub.add_parser(
        "colorapp", help="run the walkthrough's colorteller or colorgateway app (port 9080)"
    )
    parser.add_argument("app", choices=("teller", "gateway"))
    add_server_args(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.app == "teller":
        from proxyinit.colorapp.teller import run

        run(args.host, args.port, os.environ.get("COLOR", "white"), args.uid)
    else:
        from proxyinit.colorapp.gateway import DEFAULT_TELLER, run

        run(args.host, args.port, os.environ.get("COLOR_TELLER_ENDPOINT", DEFAULT_TELLER), args.uid)
    return 0
