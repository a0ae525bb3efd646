"""The control plane with the store as its mesh source and the API on the same event loop.

`proxyinit xds serve --db PATH [--api HOST:PORT]` calls `serve_store`; tests and benchmarks
start the same thing as `python -m proxyinit.api.run --db PATH --api HOST:PORT --xds HOST:PORT`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable

DEFAULT_API = (
    "127.0.0.1:15080"  # free in the demo: app 9080, Envoy 9901/15000/15001, xDS 15010/15011
)

REGION_HELP = (
    "this server's AWS region: in the ARNs it creates and, with --api-keys, the only region a "
    "signature may be scoped to (default: the region clients sign for; us-east-1 with --api-keys)"
)

log = logging.getLogger(__name__)


def check_region(region: str | None) -> str | None:
    import re

    from proxyinit.api.sigv4 import REGION
    from proxyinit.errors import ConfigError

    if region is not None and not re.fullmatch(REGION, region):
        raise ConfigError(f"--region {region[:80]!r}: expected an AWS region such as us-west-2")
    return region


class StoreControlPlane:
    """ControlPlane(MeshStore) + ApiServer; `async with` starts and stops both."""

    def __init__(
        self,
        db: str,
        xds,
        api=None,
        debug=None,
        translate=None,
        keys: dict[str, str] | None = None,
        region: str | None = None,
    ):
        from proxyinit.store.meshes import MeshStore
        from proxyinit.store.sqlite import SqliteStore
        from proxyinit.xds.serve import ControlPlane

        if translate is None:
            from proxyinit.mesh.translate import translate_node as translate
        self.store = MeshStore(SqliteStore(db), **({"region": region} if region else {}))
        # The publisher reuses the snapshots each write was verified with (same MeshModel object).
        self.plane = ControlPlane(self.store, xds, debug, translate)
        # Every write is translated for Envoy before it is accepted: nothing stored can be NACKed.
        self.store.verify = self.plane.publisher.build
        self.api_endpoint, self.keys, self.region = api, keys, region
        self.api = None

    async def start(self) -> None:
        await self.plane.start()
        if self.api_endpoint is not None:
            from proxyinit.api.app import create_app
            from proxyinit.api.server import ApiServer

            self.api = ApiServer(
                create_app(self.store, self.keys, self.region),
                self.api_endpoint.host,
                self.api_endpoint.port,
            )
            await self.api.start()

    async def stop(self) -> None:
        if self.api is not None:
            await self.api.stop()
        await self.plane.stop(0)
        self.store.store.close()

    async def __aenter__(self) -> StoreControlPlane:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()


async def serve_store(
    db: str,
    xds,
    api=None,
    debug=None,
    keys: dict[str, str] | None = None,
    on_ready: Callable[[str], object] | None = None,
    region: str | None = None,
) -> int:
    """Run until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with StoreControlPlane(db, xds, api, debug, keys=keys, region=region) as running:
        ports = f"xds {running.plane.xds_port}" + (
            f" api {running.api.port}" if running.api else ""
        )
        log.info("serving the store %s: %s", db, ports)
        if on_ready is not None:
            on_ready(f"ready {ports}")
        watch = asyncio.ensure_future(running.plane.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({watch, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if watch.done():
            watch.result()
        watch.cancel()
    return 0


def main(argv: list[str] | None = None) -> int:
    from proxyinit.errors import ProxyinitError
    from proxyinit.xds.endpoint import parse_endpoint

    parser = argparse.ArgumentParser(prog="python -m proxyinit.api.run", description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--api", default=DEFAULT_API)
    parser.add_argument("--xds", default="127.0.0.1:15010")
    parser.add_argument(
        "--api-keys",
        default=None,
        help="verify SigV4 against `ACCESS_KEY_ID SECRET` lines of this file",
    )
    parser.add_argument("--region", default=None, help=REGION_HELP)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        api = parse_endpoint(args.api, "--api", allow_unix=False, allow_port_zero=True)
        keys = None
        if args.api_keys:
            from proxyinit.api.sigv4 import load_keys

            keys = load_keys(args.api_keys)
        xds = parse_endpoint(args.xds, "--xds", allow_port_zero=True)
        # Scripts starting it wait for this line (ports chosen by the kernel with :0).
        return asyncio.run(
            serve_store(
                args.db,
                xds,
                api,
                keys=keys,
                on_ready=lambda line: print(line, flush=True),
                region=check_region(args.region),
            )
        )
    except ProxyinitError as err:
        print(f"proxyinit: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
