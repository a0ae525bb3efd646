"""Test/benchmark server: the store-mode ControlPlane, with Envoy listeners on loopback.

    python -m tests.api.serve_loopback --db PATH [--listener-ports INGRESS,EGRESS]

Prints `ready xds <port> api <port> debug <port> [metrics <port>]` once serving (debug: the xDS
debug endpoint; metrics with --metrics-port).
Listeners (0.0.0.0:15000/15001 in production) move to 127.0.0.1:<given ports> so tests bind
loopback only and never collide.
"""

from __future__ import annotations

import argparse
import asyncio


async def main(args) -> int:
    from proxyinit.controlplane.plane import ControlPlane
    from proxyinit.xds.endpoint import Endpoint
    from tests.support.loopback import loopback_translator

    ingress, egress = (int(p) for p in args.listener_ports.split(","))
    keys = None
    if args.api_keys:
        from proxyinit.api.sigv4 import load_keys

        keys = load_keys(args.api_keys)
    plane = ControlPlane(
        Endpoint("127.0.0.1", args.xds_port),
        db=args.db,
        api=Endpoint("127.0.0.1", args.api_port),
        api_keys=keys,
        debug=Endpoint("127.0.0.1", args.debug_port),
        translate=loopback_translator(ingress, egress),
        region=args.region,
        certs=args.certs,
        metrics=Endpoint("127.0.0.1", args.metrics_port) if args.metrics_port >= 0 else None,
    )
    return await plane.run(on_ready=lambda line: print(line, flush=True))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--listener-ports", default="0,0")
    parser.add_argument("--api-port", type=int, default=0)
    parser.add_argument("--xds-port", type=int, default=0)
    parser.add_argument("--debug-port", type=int, default=0)
    parser.add_argument("--api-keys", default=None)
    parser.add_argument("--region", default=None)
    parser.add_argument("--certs", default=None)
    parser.add_argument("--metrics-port", type=int, default=-1, help="-1: no metrics endpoint")
    raise SystemExit(asyncio.run(main(parser.parse_args())))
