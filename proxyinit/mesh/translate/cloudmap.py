"""A virtual node discovered through AWS Cloud Map, reached as an EDS cluster (pure).

App Mesh served Cloud Map instances to Envoy over EDS; so do we. The cluster names its
ClusterLoadAssignment explicitly (`service_name`), so a virtual gateway's per-listener copies of
the cluster (translate/gateway.py) share the one assignment. The endpoints are what the control
plane last discovered for the node's query (MeshModel.discovered): each instance's IPv4 or IPv6
address by the node's ipPreference, on the listener's port (as a DNS-discovered node is reached on
its listener's port). Nothing discovered yet -> an assignment without endpoints (Envoy: 503).
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from proxyinit.mesh.model.cloudmap import CloudMapInstance
from proxyinit.mesh.translate.protos import socket_address


def eds_cluster_config(name: str) -> cluster_pb2.Cluster.EdsClusterConfig:
    return cluster_pb2.Cluster.EdsClusterConfig(
        eds_config=config_source_pb2.ConfigSource(
            ads=config_source_pb2.AggregatedConfigSource(),
            resource_api_version=config_source_pb2.V3,
        ),
        service_name=name,
    )


def cloud_map_assignment(
    name: str,
    instances: tuple[CloudMapInstance, ...],
    port: int,
    preference: str | None,
) -> endpoint_pb2.ClusterLoadAssignment:
    """The endpoints of EDS cluster `name`, in address order (a stable snapshot version)."""
    addresses = sorted({a for i in instances if (a := i.address(preference)) is not None})
    endpoints = [
        endpoint_components_pb2.LbEndpoint(
            endpoint=endpoint_components_pb2.Endpoint(address=socket_address(address, port))
        )
        for address in addresses
    ]
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=name,
        endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=endpoints)],
    )
