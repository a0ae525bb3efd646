"""`proxyinit mesh apply -f FILE`: a mesh file into the store. Imports stdlib only at module level.

Two ways in, one result (validated as a whole, one transaction, re-applying is a no-op):
- `--endpoint-url URL` (default http://127.0.0.1:15080): through the running control plane's
  API, which pushes the change to connected Envoys at once;
- `--db PATH`: straight into a store file, for seeding before the control plane starts.
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_ENDPOINT = "http://127.0.0.1:15080"


def register(sub: argparse._SubParsersAction) -> None:
    mesh = sub.add_parser("mesh", help="manage the App Mesh resources of the control plane's store")
    mesh_sub = mesh.add_subparsers(dest="mesh_command", metavar="COMMAND", required=True)
    apply = mesh_sub.add_parser("apply", help="create or update the resources of a mesh file")
    apply.add_argument(
        "-f",
        "--file",
        required=True,
        help="YAML/JSON list of App Mesh resources (create-* input shapes)",
    )
    where = apply.add_mutually_exclusive_group()
    where.add_argument(
        "--endpoint-url",
        default=None,
        help=f"running control plane's API (default {DEFAULT_ENDPOINT})",
    )
    where.add_argument(
        "--db", default=None, help="store file to write directly (control plane not running on it)"
    )
    apply.set_defaults(handler=run_apply)


def add_store_options(serve: argparse.ArgumentParser) -> None:
    """`xds serve` options of the store mode (the API): `--db` instead of `--mesh-file`."""
    serve.add_argument(
        "--db",
        default=None,
        metavar="PATH",
        help="SQLite store of App Mesh resources (instead of --mesh-file); serves the App Mesh API",
    )
    serve.add_argument(
        "--api",
        default=DEFAULT_ENDPOINT.removeprefix("http://"),
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


def run_store_serve(args: argparse.Namespace, xds, debug) -> int:
    """`xds serve --db PATH [--api HOST:PORT]`: store as mesh source, API on the same event loop."""
    import asyncio
    import logging

    from proxyinit.api.run import check_region, serve_store
    from proxyinit.errors import ConfigError
    from proxyinit.xds.endpoint import parse_endpoint

    if getattr(args, "mesh_file", None):
        raise ConfigError(
            "--mesh-file and --db: give one (import a file into the store with `proxyinit mesh apply -f`)"
        )
    api = parse_endpoint(args.api, "--api", allow_unix=False)
    if not api.is_loopback:
        logging.getLogger("proxyinit.api").warning(
            "--api %s is not loopback: anyone who can reach it can change the mesh", api
        )
    keys = None
    if args.api_keys:
        from proxyinit.api.sigv4 import load_keys

        keys = load_keys(args.api_keys)
    region = check_region(args.region)
    return asyncio.run(serve_store(args.db, xds, api, debug, keys, region=region))


def run_apply(args: argparse.Namespace) -> int:
    if args.db:
        outcome = _apply_db(args.file, args.db)
    else:
        outcome = _apply_http(args.file, args.endpoint_url or DEFAULT_ENDPOINT)
    for item in outcome:
        where = "/".join(
            p for p in (item["meshName"], item.get("virtualRouterName"), item["name"]) if p
        )
        print(f"{item['result']:<9} {item['kind']} {where}")
    return 0


def _apply_db(path: str, db: str) -> list[dict]:
    import asyncio

    from proxyinit.api.apply_route import outcome_json
    from proxyinit.errors import ConfigError
    from proxyinit.mesh.meshfile import parse_resources
    from proxyinit.store.apply import declared_meshes
    from proxyinit.store.meshes import MeshStore
    from proxyinit.store.sqlite import SqliteStore

    items = _read(path)
    try:
        models = parse_resources(items)
    except ConfigError as err:
        raise ConfigError(f"mesh file {path!r}: {err}") from None

    async def apply() -> list:
        store = MeshStore(SqliteStore(db))
        try:
            return await store.apply(models, declared_meshes(items))
        finally:
            store.store.close()

    return outcome_json(asyncio.run(apply()))


def _apply_http(path: str, endpoint: str) -> list[dict]:
    import json
    import urllib.error
    import urllib.request

    from proxyinit.errors import ConfigError, RuntimeFailure

    resources = _read(path)
    request = urllib.request.Request(
        f"{endpoint.rstrip('/')}/proxyinit/v1/apply",
        data=json.dumps(resources).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["resources"]
    except urllib.error.HTTPError as err:
        message = json.loads(err.read() or b"{}").get("message", err.reason)
        raise (ConfigError if err.code < 500 else RuntimeFailure)(
            f"mesh file {path!r}: {message}"
        ) from None
    except (urllib.error.URLError, OSError) as err:
        raise RuntimeFailure(
            f"cannot reach the control plane API at {endpoint} ({getattr(err, 'reason', err)}); "
            "is `proxyinit xds serve --db ... --api ...` running?"
        ) from None


def _read(path: str) -> list:
    from proxyinit.bounds import load_yaml, read_mesh_file

    # YAML is a superset of JSON; bounded as `xds serve --mesh-file` bounds it.
    return load_yaml(read_mesh_file(path), f"mesh file {path!r}") or []


if (
    __name__ == "__main__"
):  # until proxyinit/cli.py registers it: python -m proxyinit.api.cli mesh apply -f F
    parser = argparse.ArgumentParser(prog="proxyinit")
    register(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args()
    from proxyinit.errors import ProxyinitError

    try:
        sys.exit(parsed.handler(parsed))
    except ProxyinitError as error:
        print(f"proxyinit: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
