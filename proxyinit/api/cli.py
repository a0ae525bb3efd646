"""`proxyinit mesh apply -f FILE`: a mesh file into the store. Imports stdlib only at module level.

Two ways in, one result (validated as a whole, one transaction, re-applying is a no-op):
- `--endpoint-url URL` (default http://127.0.0.1:15080): through the running control plane's
  API, which pushes the change to connected Envoys at once;
- `--db PATH`: straight into a store file, for seeding before the control plane starts.
"""

from __future__ import annotations

import argparse

from proxyinit.contract import DEFAULT_API_ADDRESS

DEFAULT_ENDPOINT = f"http://{DEFAULT_API_ADDRESS}"


def register(sub: argparse._SubParsersAction) -> None:
    mesh = sub.add_parser("mesh", help="manage the App Mesh resources of the control plane's store")
    mesh_sub = mesh.add_subparsers(dest="mesh_command", metavar="COMMAND", required=True)
    apply = mesh_sub.add_parser("apply", help="create or update the resources of a mesh file")
    apply.add_argument(
        "-f",
        "--file",
        required=True,
        help="YAML/JSON list of App Mesh resources (create-* input shapes), or Kubernetes "
        "manifests with the App Mesh controller's appmesh.k8s.aws/v1beta2 resources; FILE or DIR",
    )
    where = apply.add_mutually_exclusive_group()
    where.add_argument(
        "--endpoint-url",
        default=None,
        help=f"running control plane's API (default {DEFAULT_ENDPOINT})",
    )
    where.add_argument(
        "--db",
        default=None,
        help="store file to write directly (control plane not running on it), or a "
        "postgresql:// URL (replicas may be running on it: they follow the write)",
    )
    apply.set_defaults(handler=run_mesh_apply)


def run_mesh_apply(args: argparse.Namespace) -> int:
    if args.db:
        outcome = _apply_db(args.file, args.db)
    else:
        outcome = _apply_http(args.file, args.endpoint_url or DEFAULT_ENDPOINT)
    for item in outcome:
        where = "/".join(
            p
            for p in (
                item["meshName"],
                item.get("virtualRouterName") or item.get("virtualGatewayName"),
                item["name"],
            )
            if p
        )
        print(f"{item['result']:<9} {item['kind']} {where}")
    return 0


def _apply_db(path: str, db: str) -> list[dict]:
    import asyncio

    from proxyinit.api.apply_route import outcome_json
    from proxyinit.errors import ConfigError
    from proxyinit.mesh.model.meshfile import parse_resources
    from proxyinit.store.apply import declared_meshes
    from proxyinit.store.backends import open_backend
    from proxyinit.store.meshes import MeshStore

    items = _read(path)
    try:
        models = parse_resources(items)
    except ConfigError as err:
        raise ConfigError(f"mesh file {path!r}: {err}") from None

    async def apply() -> list:
        store = MeshStore(open_backend(db))
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
    import sys

    from proxyinit.k8s.meshinput import read_input

    # A mesh file, Kubernetes manifests (the App Mesh controller's resources) or a directory of
    # them; bounded as `xds serve --mesh-file` bounds it.
    found = read_input(path)
    if found.summary():
        print(found.summary(), file=sys.stderr)
    return found.items
