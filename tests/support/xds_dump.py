"""What a running control plane serves one node, fetched over a real ADS stream as Envoy would.

`dump_node` subscribes CDS and LDS (wildcard), then the RDS, EDS and SDS names those reference,
ACKing each answer; the result is {type_url: [resource protos]} for `envoy_validate`. A test can so
check every node of a mesh with `envoy --mode validate` (tens of milliseconds) instead of starting
one Envoy per node (a second or more each).
"""

from __future__ import annotations

import asyncio

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf.json_format import MessageToDict

import proxyinit.mesh.translate.node  # noqa: F401 (registers every type its Anys pack)
from proxyinit.xds.types import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, filter_chains

_MESSAGES = {
    CLUSTER: "envoy.config.cluster.v3.cluster_pb2:Cluster",
    ENDPOINT: "envoy.config.endpoint.v3.endpoint_pb2:ClusterLoadAssignment",
    LISTENER: "envoy.config.listener.v3.listener_pb2:Listener",
    ROUTE: "envoy.config.route.v3.route_pb2:RouteConfiguration",
    SECRET: "envoy.extensions.transport_sockets.tls.v3.secret_pb2:Secret",
}


def _message_class(type_url: str):
    import importlib

    module, name = _MESSAGES[type_url].split(":")
    return getattr(importlib.import_module(module), name)


def _route_names(listeners) -> list[str]:
    names = []
    for listener in listeners:
        for chain in filter_chains(listener):
            for filter_ in chain.filters:
                if filter_.typed_config.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
                    manager = hcm_pb2.HttpConnectionManager()
                    filter_.typed_config.Unpack(manager)
                    names.append(manager.rds.route_config_name)
    return sorted(set(names))


def _secret_names(value) -> set[str]:
    """Names of every SdsSecretConfig (a mapping with `name` and `sdsConfig`) in a dict tree."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "sdsConfig" in value and "name" in value:
            found.add(value["name"])
        for item in value.values():
            found |= _secret_names(item)
    elif isinstance(value, list):
        for item in value:
            found |= _secret_names(item)
    return found


class _Stream:
    def __init__(self, channel: grpc.aio.Channel, node_id: str):
        self.node = base_pb2.Node(id=node_id, cluster=node_id)
        self.call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources()

    async def fetch(self, type_url: str, names=(), timeout: float = 5.0) -> list:
        request = discovery_pb2.DiscoveryRequest(
            type_url=type_url, resource_names=list(names), node=self.node
        )
        await self.call.write(request)
        response = await asyncio.wait_for(self.call.read(), timeout)
        assert response.type_url == type_url, (type_url, response.type_url)
        ack = discovery_pb2.DiscoveryRequest(
            type_url=type_url,
            resource_names=list(names),
            version_info=response.version_info,
            response_nonce=response.nonce,
        )
        await self.call.write(ack)
        cls = _message_class(type_url)
        out = []
        for any_ in response.resources:
            message = cls()
            any_.Unpack(message)
            out.append(message)
        return out


async def dump_node(xds_address: str, node_id: str) -> dict:
    """{type_url: [protos]} served to `node_id` by the ADS server at `xds_address`."""
    async with grpc.aio.insecure_channel(xds_address) as channel:
        stream = _Stream(channel, node_id)
        try:
            out = {CLUSTER: await stream.fetch(CLUSTER)}
            eds = sorted(c.name for c in out[CLUSTER] if c.HasField("eds_cluster_config"))
            out[ENDPOINT] = await stream.fetch(ENDPOINT, eds) if eds else []
            out[LISTENER] = await stream.fetch(LISTENER)
            routes = _route_names(out[LISTENER])
            out[ROUTE] = await stream.fetch(ROUTE, routes) if routes else []
            secrets: set[str] = set()
            for message in out[CLUSTER] + out[LISTENER]:
                secrets |= _secret_names(MessageToDict(message))
            out[SECRET] = await stream.fetch(SECRET, sorted(secrets)) if secrets else []
        finally:
            stream.call.cancel()
    return out
