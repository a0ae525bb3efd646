"""Test/benchmark server: `proxyinit.api.run`'s StoreControlPlane, with Envoy listeners on loopback.

    python tests/api/serve_loopback.py --db PATH [--listener-ports INGRESS,EGRESS]

Prints `ready xds <port> api <port> debug <port>` once serving (debug: the xDS debug endpoint). Listeners (0.0.0.0:15000/15001 in
production) move to 127.0.0.1:<given ports> so tests bind loopback only and never collide.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


async def main(args) -> None:
    from proxyinit.api.run import StoreControlPlane
    from proxyinit.lab.loopback import loopback_translator
    from proxyinit.xds.endpoint import Endpoint

    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    ingress, egress = (int(p) for p in args.listener_ports.split(","))
    api = Endpoint("127.0.0.1", args.api_port)
    xds = Endpoint("127.0.0.1", args.xds_port)
    debug = Endpoint("127.0.0.1", args.debug_port)
    keys = None
    if args.api_keys:
        from proxyinit.api.sigv4 import load_keys

        keys = load_keys(args.api_keys)
    async with StoreControlPlane(
        args.db,
        xds,
        api,
        debug,
        translate=loopback_translator(ingress, egress),
        keys=keys,
        region=args.region,
    ) as running:
        print(
            f"ready xds {running.plane.xds_port} api {running.api.port} debug {running.plane.debug_server.port}",
            flush=True,
        )
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--listener-ports", default="0,0")
    parser.add_argument("--api-port", type=int, default=0)
    parser.add_argument("--xds-port", type=int, default=0)
    parser.add_argument("--debug-port", type=int, default=0)
    parser.add_argument("--api-keys", default=None)
    parser.add_argument("--region", default=None)
    asyncio.run(main(parser.parse_args()))
