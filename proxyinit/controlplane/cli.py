"""`proxyinit xds serve`. Imports stdlib only at module level.

The init container runs `proxyinit` on every pod start, so grpc, protobuf, pydantic and yaml are
imported inside the handler, never here.
"""

from __future__ import annotations

import argparse

from proxyinit.contract import DEFAULT_API_ADDRESS, DEFAULT_DEBUG_ADDRESS, DEFAULT_XDS_ADDRESS


def register(sub: argparse._SubParsersAction) -> None:
    xds = sub.add_parser("xds", help="the xDS control plane")
    xds_sub = xds.add_subparsers(dest="xds_command", metavar="COMMAND", required=True)
    serve = xds_sub.add_parser(
        "serve", help="serve a mesh file, or the App Mesh API's store, to Envoys over gRPC ADS"
    )
    _add_source_and_address_options(serve)
    _add_api_options(serve)
    _add_xds_auth_options(serve)
    serve.add_argument(
        "--poll-interval",
        type=float,
        default=0.01,
        help="mesh file poll interval, seconds (default 0.01: a stat call; read only on change)",
    )
    serve.add_argument(
        "--cloud-map-interval",
        default="10",
        help="seconds between AWS Cloud Map DiscoverInstances calls for awsCloudMap nodes "
        "(default 10; boto3's standard credential chain and region)",
    )
    serve.add_argument(
        "--dns-port",
        default=None,
        help="UDP port of each virtual node's DNS listener on loopback: the redirector's "
        "PROXYINIT_DNS_PORT (default: $PROXYINIT_DNS_PORT, else 15053)",
    )
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    from proxyinit.controlplane import limits  # stdlib only at its module level

    limits.add_arguments(serve)
    serve.set_defaults(handler=run_serve)


def _add_source_and_address_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--mesh-file",
        default=None,
        metavar="FILE|DIR",
        help="YAML/JSON list of App Mesh resources, or Kubernetes manifests with the App Mesh "
        "controller's resources, or a directory of them as `mesh apply -f DIR` reads it "
        "(watched); or --db",
    )
    serve.add_argument(
        "--db",
        default=None,
        metavar="PATH|URL",
        help="store of App Mesh resources (instead of --mesh-file); serves the App Mesh API: a "
        "SQLite file, or postgresql://USER@HOST/DB, which any number of replicas may share",
    )
    serve.add_argument(
        "--xds",
        default=DEFAULT_XDS_ADDRESS,
        help="ADS listen address: HOST:PORT or unix:///PATH (default %(default)s)",
    )
    serve.add_argument(
        "--debug",
        default=None,
        metavar="HOST:PORT",
        help=f"read-only JSON debug endpoint (off unless given; e.g. {DEFAULT_DEBUG_ADDRESS})",
    )
    serve.add_argument(
        "--metrics",
        default=None,
        metavar="HOST:PORT",
        help="Prometheus metrics at http://HOST:PORT/metrics (off unless given; e.g. 127.0.0.1:15090)",
    )


def _add_api_options(serve: argparse.ArgumentParser) -> None:
    """The store mode's App Mesh API (with --db)."""
    serve.add_argument(
        "--api",
        default=DEFAULT_API_ADDRESS,
        metavar="HOST:PORT",
        help="App Mesh REST API listen address with --db (default %(default)s)",
    )
    serve.add_argument(
        "--region",
        default=None,
        metavar="REGION",
        help="the server's AWS region: in the ARNs it creates and, with --api-keys, the only "
        "region a signature may be scoped to (default: the region clients sign for; us-east-1 "
        "with --api-keys)",
    )
    serve.add_argument(
        "--api-keys",
        default=None,
        metavar="FILE",
        help="verify SigV4 signatures against `ACCESS_KEY_ID SECRET` lines of FILE (default: not checked)",
    )
    serve.add_argument(
        "--certs",
        default=None,
        metavar="DIR",
        help="PEM files served over SDS: <id>.pem (chain) and <id>.key for each `sds` secret "
        "name and ACM / ACM-PCA certificate id (the ARN's last part) a spec names; only the "
        "node naming one gets it (default: none, such listeners refuse connections)",
    )


def _add_xds_auth_options(serve: argparse.ArgumentParser) -> None:
    """Who may ask for what on the xDS port (controlplane/xds_auth.py)."""
    for flag, meaning in (
        ("--xds-tls-cert", "the xDS server's certificate chain (PEM): serve TLS"),
        ("--xds-tls-key", "the private key of --xds-tls-cert (PEM)"),
        (
            "--xds-client-ca",
            "require client certificates from this CA (PEM); the certificate's SPIFFE id "
            "spiffe://TD/mesh/M/virtualNode/V (or CN mesh/M/virtualNode/V) names the only node "
            "it may ask for",
        ),
        (
            "--xds-tokens",
            "require a token per node: `NODE_ID TOKEN` lines; Envoy sends "
            "`authorization: Bearer TOKEN` (read again when the file changes)",
        ),
    ):
        serve.add_argument(flag, default=None, metavar="FILE", help=meaning)
    serve.add_argument(
        "--xds-trust-domain",
        default=None,
        metavar="TD",
        help="with --xds-client-ca: the SPIFFE trust domain a client certificate's id must be in",
    )


def run_serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from proxyinit.controlplane import limits
    from proxyinit.controlplane.meshfile_source import FileMeshSource
    from proxyinit.controlplane.plane import ControlPlane
    from proxyinit.controlplane.xds_auth import check_exposure, settings_from_args
    from proxyinit.errors import ConfigError
    from proxyinit.xds.endpoint import parse_endpoint

    if not args.mesh_file and not args.db:
        raise ConfigError(
            "xds serve: give --mesh-file FILE|DIR or --db PATH|URL (the App Mesh API's store)"
        )
    if args.mesh_file and args.db:
        raise ConfigError(
            "--mesh-file and --db: give one (import a file into the store with "
            "`proxyinit mesh apply -f FILE --db PATH`)"
        )
    if args.poll_interval <= 0:
        raise ConfigError(
            f"--poll-interval={args.poll_interval!r}: expected a positive number of seconds"
        )
    cloud_map_interval = _interval(args.cloud_map_interval, "--cloud-map-interval")
    translate = _translator(args.dns_port)
    serve_limits = limits.from_args(args)
    xds = parse_endpoint(args.xds, "--xds", allow_port_zero=True)
    debug = (
        parse_endpoint(args.debug, "--debug", allow_unix=False, allow_port_zero=True)
        if args.debug
        else None
    )
    api = parse_endpoint(args.api, "--api", allow_unix=False, allow_port_zero=True)
    metrics = (
        parse_endpoint(args.metrics, "--metrics", allow_unix=False, allow_port_zero=True)
        if args.metrics
        else None
    )
    keys, region = None, None
    if args.db:
        from proxyinit.api.sigv4 import check_region, load_keys

        keys = load_keys(args.api_keys) if args.api_keys else None
        region = check_region(args.region)
    xds_auth = settings_from_args(args)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    check_exposure(xds, xds_auth, args.certs)
    _warn_if_exposed(
        xds,
        debug,
        api if args.db else None,
        metrics,
        xds_authenticated=xds_auth.authenticates,
        api_authenticated=keys is not None,
    )
    limits.raise_open_files_limit()
    plane = ControlPlane(
        xds,
        mesh_file=FileMeshSource(args.mesh_file, args.poll_interval) if args.mesh_file else None,
        db=args.db,
        api=api if args.db else None,
        api_keys=keys,
        region=region,
        debug=debug,
        certs=args.certs,
        metrics=metrics,
        cloud_map_interval=cloud_map_interval,
        xds_auth=xds_auth,
        translate=translate,
        limits=serve_limits,
    )
    # Scripts that start us with port 0 wait for this line on stdout.
    return asyncio.run(plane.run(on_ready=lambda line: print(line, flush=True)))


def _translator(raw: str | None):
    """translate_node with the DNS listener on --dns-port (or $PROXYINIT_DNS_PORT): the same
    variable, read the same way, as the redirector's, so one task env can set both."""
    import functools
    import os

    from proxyinit.contract import DNS_PORT, PROXY_PORTS, echo, parse_port
    from proxyinit.errors import ConfigError
    from proxyinit.mesh.translate.node import translate_node

    flag = "--dns-port" if raw is not None else "PROXYINIT_DNS_PORT"
    raw = raw if raw is not None else os.environ.get("PROXYINIT_DNS_PORT", "").strip() or None
    try:
        port = DNS_PORT if raw is None else parse_port(raw)
    except ValueError as err:
        raise ConfigError(f"{flag}={echo(raw)}: {err}") from None
    if port in PROXY_PORTS:
        raise ConfigError(f"{flag}={port} is one of Envoy's listener ports {PROXY_PORTS}")
    return functools.partial(translate_node, dns_port=port)


def _interval(raw: str, flag: str) -> float:
    """A finite number of seconds, 0.1 to a day (argparse's float takes nan and inf)."""
    import math

    from proxyinit.contract import echo
    from proxyinit.errors import ConfigError

    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.1 <= value <= 86400:  # False for nan too
        raise ConfigError(f"{flag}={echo(raw)}: expected seconds from 0.1 to 86400")
    return value


def _warn_if_exposed(
    xds, debug, api, metrics=None, *, xds_authenticated=False, api_authenticated=False
) -> None:
    import logging

    log = logging.getLogger("proxyinit.controlplane")
    for endpoint, flag, what, authenticated in (
        (
            xds,
            "--xds",
            "claim any node id and read its config (no --xds-client-ca or --xds-tokens)",
            xds_authenticated,
        ),
        (debug, "--debug", "read the mesh config", False),
        (api, "--api", "change the mesh (no --api-keys)", api_authenticated),
        (metrics, "--metrics", "read the mesh names and traffic of the control plane", False),
    ):
        if endpoint is not None and not endpoint.is_loopback and not authenticated:
            log.warning(
                "%s %s is not loopback: anyone who can reach it can %s", flag, endpoint, what
            )
