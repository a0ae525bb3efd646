"""The simulated Envoys of `bench.xds_push`'s fan-out: one process of many ADS streams.

They must cost far less CPU than the server they measure (all share 2 cores): raw bytes over
grpc.aio, no protobuf objects. The subscriptions are serialised once; an ACK is the response's
own version_info (field 1), type_url (4) and nonce (5, which is `response_nonce` in a
DiscoveryRequest too) copied from its bytes, plus the pre-serialised RDS resource names.

    python -m bench.xds_clients PORT STREAMS CONNECTIONS   (runs until stdin closes)
"""

from __future__ import annotations

import asyncio
import resource
import sys

METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
GATEWAY = "mesh/default/virtualNode/colorgateway-vn"
ROUTE_NAMES = ["rds_egress_http_9080", "rds_ingress_http_9080"]
_ACKED_FIELDS = (1, 4, 5)  # DiscoveryResponse and DiscoveryRequest agree on these numbers


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def ack_of(response: bytes, route_type: bytes, names: bytes) -> bytes:
    """The DiscoveryRequest ACKing `response` (both serialised); RDS ACKs repeat `names`."""
    parts, pos, is_route = [], 0, False
    while pos < len(response):
        start = pos
        tag, pos = _varint(response, pos)
        if tag & 7 != 2:  # DiscoveryResponse has only length-delimited fields, but be safe
            raise ValueError(f"unexpected wire type {tag & 7} in a DiscoveryResponse")
        size, pos = _varint(response, pos)
        end = pos + size
        if tag >> 3 in _ACKED_FIELDS:
            parts.append(response[start:end])
            is_route = is_route or (tag >> 3 == 4 and response[pos:end] == route_type)
        pos = end
    if is_route:
        parts.append(names)
    return b"".join(parts)


def _requests():
    from envoy.service.discovery.v3 import discovery_pb2

    from proxyinit.xds import types

    first = discovery_pb2.DiscoveryRequest(type_url=types.CLUSTER)
    first.node.id = GATEWAY
    subscribe = [
        first,
        discovery_pb2.DiscoveryRequest(type_url=types.LISTENER),
        discovery_pb2.DiscoveryRequest(type_url=types.ROUTE, resource_names=ROUTE_NAMES),
    ]
    names = discovery_pb2.DiscoveryRequest(resource_names=ROUTE_NAMES).SerializeToString()
    return [r.SerializeToString() for r in subscribe], types.ROUTE.encode(), names


async def client_main(port: int, n: int, connections: int) -> None:
    """Subscribe CDS, LDS and RDS on `n` streams; ACK every response; stop when stdin closes."""
    import grpc

    subscribe, route_type, names = _requests()
    # One TCP connection per channel, like Envoys; and, like Envoy's HTTP/2 codec, no
    # bandwidth-delay-product PINGs after each response (gRPC's default): those doubled the TCP
    # segments of each push, and the CPU of both sides, for nothing an Envoy would cost.
    options = [("grpc.use_local_subchannel_pool", 1), ("grpc.http2.bdp_probe", 0)]
    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) for _ in range(connections)
    ]
    calls = [channel.stream_stream(METHOD) for channel in channels]  # bytes in, bytes out

    async def reconnect(slot: int) -> None:
        """A new channel, as an Envoy opens a new connection: a few of thousands of channels
        opened at once stay broken (every call on them ends INTERNAL or CANCELLED at once)."""
        old = channels[slot]
        channels[slot] = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options)
        calls[slot] = channels[slot].stream_stream(METHOD)
        await old.close(None)

    failures: dict[str, int] = {}

    async def subscribe_and_ack(call) -> None:
        for request in subscribe:
            await call.write(request)
        async for response in call:
            await call.write(ack_of(response, route_type, names))

    async def stream(index: int) -> None:
        """Like Envoy: reconnect after a failure (the first connect of thousands can be refused)."""
        while True:
            method = calls[index % connections]
            call = method(wait_for_ready=True)
            try:
                await subscribe_and_ack(call)
            except grpc.aio.AioRpcError as err:
                # A failed write only says INTERNAL "execute_batch": the call's status says why.
                why = f"{err.code().name} (call: {(await call.code()).name} {await call.details()})"
                failures[why] = failures.get(why, 0) + 1
                await asyncio.sleep(0.05)
                if calls[index % connections] is method:  # not replaced by a neighbour already
                    await reconnect(index % connections)

    tasks = [asyncio.create_task(stream(i)) for i in range(n)]
    # Run until the parent closes our stdin (it is done measuring), then leave cleanly.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    if failures:
        print(f"  (simulated clients retried after: {failures})", file=sys.stderr)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close(None)


if __name__ == "__main__":
    # The fan-out client may open thousands of sockets.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(client_main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
