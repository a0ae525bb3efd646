"""Fixtures for the xDS tests: a real grpc.aio ADS server on 127.0.0.1 and a real client stub.

The server keys streams with the control plane's App Mesh node key, as `xds serve` does."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.rpc import status_pb2

from proxyinit.controlplane.plane import app_mesh_node_key
from proxyinit.mesh.runtime.envoy import EnvoyProcess
from proxyinit.xds.cache import SnapshotCache
from proxyinit.xds.server import AggregatedDiscoveryService, StreamRegistry, start_server
from tests.support.certs import TestCa
from tests.support.xds_watch import StreamWatcher


@dataclass
class Ads:
    cache: SnapshotCache
    registry: StreamRegistry
    watcher: StreamWatcher
    port: int


class AdsClient:
    """One ADS stream; responses are read by a background task into a queue."""

    def __init__(self, channel: grpc.aio.Channel, node_id: str | None, metadata=None):
        self.node_id = node_id
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        self.call = stub.StreamAggregatedResources(metadata=metadata)
        self.responses: asyncio.Queue = asyncio.Queue()
        self._first = True
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for response in self.call:
                await self.responses.put(response)
        except grpc.aio.AioRpcError as err:
            await self.responses.put(err)

    async def send(
        self, type_url, names=(), version="", nonce="", error=None, node_id=None
    ) -> None:
        request = discovery_pb2.DiscoveryRequest(
            type_url=type_url,
            resource_names=list(names),
            version_info=version,
            response_nonce=nonce,
        )
        node = node_id if node_id is not None else (self.node_id if self._first else None)
        if node is not None:
            request.node.CopyFrom(base_pb2.Node(id=node))
        if error:
            request.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
        self._first = False
        await self.call.write(request)

    async def read(self, timeout: float = 3.0) -> discovery_pb2.DiscoveryResponse:
        item = await asyncio.wait_for(self.responses.get(), timeout)
        if isinstance(item, Exception):
            raise item
        return item

    async def ack(self, response, names=()) -> None:
        await self.send(
            response.type_url, names, version=response.version_info, nonce=response.nonce
        )

    async def expect_nothing(self, timeout: float = 0.3) -> None:
        with pytest.raises(asyncio.TimeoutError):
            item = await asyncio.wait_for(self.responses.get(), timeout)
            pytest.fail(f"unexpected response {item}")

    async def close(self) -> None:
        self.call.cancel()
        self._reader.cancel()


@pytest.fixture
async def ads():
    cache = SnapshotCache()
    registry = StreamRegistry()
    watcher = StreamWatcher(registry)
    service = AggregatedDiscoveryService(cache, [registry, watcher], node_key=app_mesh_node_key)
    server, port = await start_server(service, "127.0.0.1:0")
    try:
        yield Ads(cache, registry, watcher, port)
    finally:
        await server.stop(0)


@pytest.fixture
async def connect(ads):
    channels: list[grpc.aio.Channel] = []
    clients: list[AdsClient] = []

    def open_stream(node_id: str | None) -> AdsClient:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{ads.port}")
        channels.append(channel)
        client = AdsClient(channel, node_id)
        clients.append(client)
        return client

    yield open_stream
    for client in clients:
        await client.close()
    for channel in channels:
        await channel.close()


@pytest.fixture
async def envoy():
    """A real Envoy process, not started yet (its start_node does); stopped and its work
    directory removed after the test, even one that failed before starting it."""
    process = EnvoyProcess()
    yield process
    await process.stop()


@pytest.fixture
def ca(envoy):
    """A test CA in the Envoy's work directory (readable by Envoy's uid)."""
    return TestCa(envoy.workdir)
