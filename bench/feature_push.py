#!/usr/bin/env python3
"""One change of the every-feature mesh (bench/translate.py) pushed to N simulated streams.

N simulated Envoys (grpc.aio clients in ONE separate process, as in bench/xds_push.py) open ADS
streams as node n0 of the 1,000-node mesh and subscribe CDS, EDS (its Cloud Map clusters), LDS
and RDS, ACKing everything. Timed from the new model handed to the publisher until every stream
ACKed the new version: a route weight change (RDS) and a Cloud Map answer change (EDS), each the
whole path: re-translate the mesh, snapshot, push, ACK. Loopback only; no AWS, no Envoy.

The Cloud Map answers (bench.translate.instances) come from a stand-in for AWS's client
(`CloudMapAnswers`) that the plane's own refresher asks (controlplane/cloudmap.py), so a changed
answer takes the real path: refresh, then the incremental publisher sees it in the model it
compares. Timed from the refreshed answer to the last ACK (the refresh itself is Cloud Map's I/O).

    .venv/bin/python -m bench.feature_push [--nodes 1000] [--streams 1000] [--changes 3]
        [--before-issue-9]

--before-issue-9: the mesh without issue 9's features (bench.translate), route changes only, so
the tree before issue 9 runs it too (README: before/after).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

from bench.translate import MESH, feature_mesh, instances
from bench.xds_push import AckWaiter, _connected, _stop_clients, rss_mb

ROOT = Path(__file__).resolve().parents[1]
NODE = f"mesh/{MESH}/virtualNode/n0"
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


class TypeAckWaiter(AckWaiter):
    """AckWaiter for any one type (xds_push's counts RDS only)."""

    def expect_type(self, type_url: str, version: str, streams: int) -> None:
        self.type_url = type_url
        self.expect(version, streams)

    def on_request(self, stream, type_url, kind) -> None:
        if (
            kind is self.ack
            and type_url == self.type_url
            and stream.types[type_url].acked_version == self.version
        ):
            self.count += 1
            if self.count >= self.target:
                self.done.set()


class CloudMapAnswers:
    """A servicediscovery client with the one call the refresher makes (DiscoverInstances),
    answering bench.translate.instances; `changed`: the node whose service has a fourth."""

    changed: str | None = None

    def discover_instances(self, *, ServiceName: str, **_) -> dict:  # boto3's keywords
        found = instances(ServiceName, self.changed)
        return {
            "Instances": [
                {"InstanceId": i.instance_id, "Attributes": {"AWS_INSTANCE_IPV4": i.ipv4}}
                for i in found
            ]
        }


async def _answered(plane, timeout: float = 60) -> set:
    """Wait for the refresher's first answers (it asks every query once the plane starts)."""
    queries = plane.publisher.served()[MESH].cloud_map_queries()
    deadline = time.monotonic() + timeout
    while not all(plane.cloud_map.status().get(str(q), {}).get("state") == "OK" for q in queries):
        if time.monotonic() > deadline:
            raise SystemExit(f"Cloud Map queries not answered after {timeout:.0f} s")
        await asyncio.sleep(0.05)
    return queries


def route_change(nodes: int, i: int, before: bool = False):
    """The mesh of the i-th timed route change: route r1's weight is 2 + i, nothing else moves."""
    from proxyinit.mesh.model.meshfile import parse_resources

    return parse_resources(feature_mesh(nodes, weight=2 + i, before=before))[MESH]


async def _timed(plane, waiter, type_url: str, n: int, publish) -> float:
    before = plane.cache.get_snapshot(NODE).version(type_url)
    started = time.perf_counter()
    publish()
    version = plane.cache.get_snapshot(NODE).version(type_url)
    if version == before:
        raise SystemExit(f"the change did not change {type_url} of {NODE}")
    waiter.expect_type(type_url, version, n)
    await asyncio.wait_for(waiter.done.wait(), 120)
    return (time.perf_counter() - started) * 1000


async def bench(nodes: int, n: int, changes: int, workdir: Path, before: bool = False) -> dict:
    from proxyinit.controlplane.meshfile_source import FileMeshSource
    from proxyinit.controlplane.plane import ControlPlane
    from proxyinit.xds import types
    from proxyinit.xds.endpoint import Endpoint

    mesh_file = workdir / "feature.json"
    mesh_file.write_text(json.dumps(feature_mesh(nodes, before=before)))
    answers = CloudMapAnswers()
    # The tree before issue 9 has no Cloud Map refresher (nor its keywords).
    options = {} if before else {"cloud_map_interval": 3600, "cloud_map_client": lambda: answers}
    plane = ControlPlane(
        Endpoint("127.0.0.1", 0), mesh_file=FileMeshSource(mesh_file, 3600), **options
    )
    async with plane:
        queries = set() if before else await _answered(plane)
        snapshot = plane.cache.get_snapshot(NODE)
        names = {
            "eds": sorted(snapshot.resources(types.ENDPOINT)),
            "rds": sorted(snapshot.resources(types.ROUTE)),
        }
        waiter = TypeAckWaiter(plane)
        waiter.expect_type(types.ROUTE, snapshot.version(types.ROUTE), n)
        client = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.feature_push",
            "--client",
            str(plane.xds_port),
            str(n),
            json.dumps(names),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            cwd=ROOT,
        )
        try:
            if not await _connected(waiter, 120):
                raise SystemExit(f"only {waiter.count} of {n} streams ACKed their first routes")
            route, cloud = [], []
            for i in range(changes):
                model = route_change(nodes, i, before)
                publish = partial(plane.publisher.replace, {MESH: model})
                route.append(await _timed(plane, waiter, types.ROUTE, n, publish))
                if before:
                    continue
                answers.changed = "n3" if answers.changed is None else None  # n0 routes to n3
                if not await plane.cloud_map.refresh(queries):
                    raise SystemExit("the refresher saw no new Cloud Map answer")
                cloud.append(await _timed(plane, waiter, types.ENDPOINT, n, publish))
            current, peak = rss_mb()
        finally:
            await _stop_clients([client])
    return {"route": route, "cloud": cloud, "rss": current, "peak": peak, "names": names}


async def client_main(port: int, n: int, names: dict) -> None:
    """The simulated Envoys of node n0: subscribe CDS, EDS, LDS, RDS; ACK every response."""
    import grpc
    from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

    from proxyinit.xds import types

    wanted = {types.ENDPOINT: names["eds"], types.ROUTE: names["rds"]}
    # A connection per stream, as Envoys connect: the plane serves 100 streams per connection.
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) for _ in range(n)]

    async def stream(channel) -> None:
        call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources(
            wait_for_ready=True
        )
        for index, type_url in enumerate(types.PUSH_ORDER):
            request = discovery_pb2.DiscoveryRequest(
                type_url=type_url, resource_names=wanted.get(type_url, [])
            )
            if index == 0:
                request.node.id = NODE
            await call.write(request)
        async for response in call:
            await call.write(
                discovery_pb2.DiscoveryRequest(
                    type_url=response.type_url,
                    version_info=response.version_info,
                    response_nonce=response.nonce,
                    resource_names=wanted.get(response.type_url, []),
                )
            )

    tasks = [asyncio.create_task(stream(channel)) for channel in channels]
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close(None)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        port, n, names = int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
        asyncio.run(client_main(port, n, names))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=3)
    parser.add_argument("--before-issue-9", action="store_true", help="see the module docstring")
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="feature-push-") as workdir:
        result = asyncio.run(
            bench(args.nodes, args.streams, args.changes, Path(workdir), args.before_issue_9)
        )
    print(f"{args.nodes}-node mesh, {args.streams} streams of {NODE}, {args.changes} changes")
    print(
        f"  EDS clusters {len(result['names']['eds'])}, route configs {len(result['names']['rds'])}"
    )
    print(f"{'change -> every stream ACKed (ms)':<46}{'median':>10}{'min':>10}{'max':>10}")
    for label, key in (("route weight (RDS)", "route"), ("Cloud Map answer (EDS)", "cloud")):
        values = result[key]
        if not values:  # --before-issue-9: no Cloud Map change
            continue
        print(
            f"{label:<46}{statistics.median(values):>10.0f}{min(values):>10.0f}{max(values):>10.0f}"
        )
    print(f"server RSS {result['rss']:.0f} MB (peak {result['peak']:.0f} MB)")


if __name__ == "__main__":
    main()
