"""`proxyinit demo`. Imports stdlib only at module level."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run the redirector demo in throwaway namespaces (root)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from proxyinit.lab.demo import run_demo

    return run_demo()
