"""Command line wiring only: parse, build objects, map errors to exit codes.

Heavy modules (pydantic, python-iptables, grpc) are imported inside the handlers, never
here, so `proxyinit` as an init container pays only for the path it takes.
"""

from __future__ import annotations

import gc
import posix  # os's functions without os's import (~0.9 ms): see proxyinit/environ.py
import sys

from proxyinit.environ import get as getenv
from proxyinit.errors import ProxyinitError


def build_parser():
    import argparse

    parser = argparse.ArgumentParser(
        prog="proxyinit",
        description="App Mesh-compatible traffic redirector (APPMESH_* env) and xDS control plane.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from proxyinit.firewall import commands as firewall_commands

    firewall_commands.add_common_options(parser)  # also accepted before the subcommand
    firewall_commands.register(sub)
    # Every module registering commands imports stdlib only at module level.
    from proxyinit.api import cli as api_cli
    from proxyinit.colorapp import cli as colorapp_cli
    from proxyinit.controlplane import cli as controlplane_cli
    from proxyinit.k8s import cli as k8s_cli
    from proxyinit.lab import cli as lab_cli
    from proxyinit.mesh.runtime import cli as runtime_cli

    controlplane_cli.register(sub)
    runtime_cli.register(sub)
    api_cli.register(sub)
    lab_cli.register(sub)
    colorapp_cli.register(sub)
    k8s_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 1 and getenv("CNI_COMMAND") is None:
        # The init container's process: a few ms, then posix._exit. No cycle collection in it:
        # parsing 1,000 ignored addresses and ports ran it ~10 times (~0.5 ms), for nothing.
        gc.disable()
        _exit_now(_main([]))
    return _main(sys.argv[1:] if argv is None else argv)


def _exit_now(code: int) -> None:
    """End the init container's process without the interpreter's teardown (freeing every
    module and object: ~3 ms of a ~30 ms run). Nothing on that path needs it: the lock socket
    is closed and every child reaped by now; with threads (not on that path) exit normally."""
    if "threading" in sys.modules:
        raise SystemExit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more to say
            pass
    posix._exit(code)


def _main(argv: list[str]) -> int:
    if not argv and getenv("CNI_COMMAND") is not None:  # run by a container runtime as a CNI plugin
        from proxyinit.firewall.cni import main as cni_main

        return cni_main()
    if argv:
        args = build_parser().parse_args(argv)
    else:
        # The init container's command: no arguments, configuration from the environment.
        # Skipping argparse (import + building every subcommand's parser) saves ~20 ms here.
        from proxyinit.firewall.commands import entrypoint_args

        args = entrypoint_args()
    handler = getattr(args, "handler", None)
    if handler is None:
        from proxyinit.firewall.commands import run_entrypoint as handler
    try:
        return handler(args)
    except ProxyinitError as err:
        from proxyinit.contract import log

        log(str(err), level="error", exit_code=err.exit_code)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
