"""`proxyinit demo`. Imports stdlib only at module level."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo", help="the App Mesh colorapp walkthrough, live, in throwaway namespaces (root)"
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=1000,
        help="requests after the 8:2 route update (default 1000)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=4.0,
        help="allowed deviation from 8:2, in points (default 4)",
    )
    parser.add_argument(
        "--redirect-only",
        action="store_true",
        help="only the redirector: two namespaces, probes through the rules",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.redirect_only:
        from proxyinit.lab.demo import run_demo

        return run_demo()
    from proxyinit.lab.meshdemo import main

    return main(args.requests, args.tolerance)
