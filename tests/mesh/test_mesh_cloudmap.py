"""`serviceDiscovery.awsCloudMap`: accepted as the 2019-01-25 model has it, validated as a union
with `dns`, and translated to an EDS cluster whose ClusterLoadAssignment holds what Cloud Map
last answered (MeshModel.discovered; the control plane fills it, see tests/xds/test_xds_cloudmap*).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
from envoy.config.cluster.v3 import cluster_pb2

from proxyinit.contract import NodeId
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.cloudmap import CloudMapInstance, CloudMapQuery
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds.snapshot import Snapshot
from proxyinit.xds.types import CLUSTER, ENDPOINT
from tests.mesh.gateway_scenarios import GATEWAY as GATEWAY_NAME
from tests.mesh.gateway_scenarios import HEALTH, gateway, gateway_route, listener, target
from tests.mesh.mesh_scenarios import MESH, base, find, node_provider

GATEWAY = NodeId(MESH, "colorgateway-vn")
CLUSTER_NAME = f"cds_egress_{MESH}_colorteller-vn_http_9080"
CLOUD_MAP = {
    "namespaceName": "appmesh.local",
    "serviceName": "colorteller",
    "attributes": [{"key": "ECS_TASK_DEFINITION_FAMILY", "value": "colorteller-white"}],
}
QUERY = CloudMapQuery(
    "appmesh.local", "colorteller", (("ECS_TASK_DEFINITION_FAMILY", "colorteller-white"),)
)


def _resources(discovery: dict) -> list[dict]:
    resources = node_provider(copy.deepcopy(base()))
    find(resources, virtualNodeName="colorteller-vn")["spec"]["serviceDiscovery"] = discovery
    return resources


def _model(discovery: dict, instances: tuple[CloudMapInstance, ...] | None = None):
    model = parse_resources(_resources(discovery))[MESH]
    if instances is not None:
        model = dataclasses.replace(model, discovered={QUERY: instances})
    return model


def _addresses(resources: dict) -> list[str]:
    (assignment,) = [a for a in resources[ENDPOINT] if a.cluster_name == CLUSTER_NAME]
    return [
        e.endpoint.address.socket_address.address
        for group in assignment.endpoints
        for e in group.lb_endpoints
    ]


def test_aws_cloud_map_discovery_is_accepted():
    model = _model({"awsCloudMap": CLOUD_MAP})
    assert model.cloud_map_queries() == {QUERY}
    assert model.nodes["colorteller-vn"].to_api()["spec"]["serviceDiscovery"] == {
        "awsCloudMap": CLOUD_MAP
    }


@pytest.mark.parametrize(
    ("discovery", "expect"),
    [
        ({"awsCloudMap": CLOUD_MAP, "dns": {"hostname": "x.local"}}, "give exactly one of"),
        ({}, "give exactly one of"),
        ({"awsCloudMap": {"namespaceName": "appmesh.local"}}, "serviceName"),
        ({"awsCloudMap": {**CLOUD_MAP, "namespaceName": ""}}, "namespaceName"),
        (
            {"awsCloudMap": {**CLOUD_MAP, "attributes": [{"key": "a b", "value": "x"}]}},
            "attributes",
        ),
        ({"awsCloudMap": {**CLOUD_MAP, "ipPreference": "IPv5_ONLY"}}, "IPv5_ONLY"),
        ({"awsCloudMap": {**CLOUD_MAP, "healthStatus": "ALL"}}, "healthStatus"),
    ],
)
def test_bad_cloud_map_discovery_is_refused_naming_the_field(discovery, expect):
    with pytest.raises(ConfigError) as caught:
        _model(discovery)
    assert "colorteller-vn" in str(caught.value)
    assert expect in str(caught.value)


def test_cloud_map_target_is_an_eds_cluster_with_the_discovered_endpoints():
    instances = (
        CloudMapInstance("b", ipv4="198.18.0.12"),
        CloudMapInstance("a", ipv4="198.18.0.11", ipv6="2001:2::11"),
    )
    resources = translate_node(_model({"awsCloudMap": CLOUD_MAP}, instances), GATEWAY)
    (cluster,) = [c for c in resources[CLUSTER] if c.name == CLUSTER_NAME]
    assert cluster.type == cluster_pb2.Cluster.EDS
    assert cluster.eds_cluster_config.service_name == CLUSTER_NAME
    assert cluster.eds_cluster_config.eds_config.HasField("ads")
    assert _addresses(resources) == ["198.18.0.11", "198.18.0.12"]
    Snapshot(resources)  # consistent: the EDS cluster has its assignment


@pytest.mark.parametrize(
    ("preference", "expect"),
    [
        (None, ["198.18.0.11", "198.18.0.12"]),
        ("IPv4_PREFERRED", ["198.18.0.11", "198.18.0.12"]),
        ("IPv6_PREFERRED", ["198.18.0.12", "2001:2::11"]),
        ("IPv6_ONLY", ["2001:2::11"]),
        ("IPv4_ONLY", ["198.18.0.11", "198.18.0.12"]),
    ],
)
def test_cloud_map_ip_preference_picks_each_instance_address(preference, expect):
    instances = (
        CloudMapInstance("a", ipv4="198.18.0.11", ipv6="2001:2::11"),
        CloudMapInstance("b", ipv4="198.18.0.12"),
    )
    discovery = {**CLOUD_MAP, **({"ipPreference": preference} if preference else {})}
    resources = translate_node(_model({"awsCloudMap": discovery}, instances), GATEWAY)
    assert _addresses(resources) == expect


def test_nothing_discovered_yet_is_an_empty_assignment():
    resources = translate_node(_model({"awsCloudMap": CLOUD_MAP}), GATEWAY)
    assert _addresses(resources) == []
    Snapshot(resources)


def test_a_gateway_listener_with_policies_shares_the_cloud_map_assignment():
    # A gateway listener with a healthCheck gets its own copy of the target cluster
    # (`..._via_<port>`): the copy still names the one ClusterLoadAssignment of the target.
    resources = _resources({"awsCloudMap": CLOUD_MAP}) + [
        gateway(listener(8080, "http", healthCheck={**HEALTH, "protocol": "http", "path": "/"})),
        gateway_route("color", {"httpRoute": {"match": {"prefix": "/"}, "action": target()}}),
    ]
    model = parse_resources(resources)[MESH]
    model = dataclasses.replace(model, discovered={QUERY: (CloudMapInstance("a", "198.18.0.11"),)})
    out = translate_node(model, NodeId(MESH, GATEWAY_NAME, "virtualGateway"))
    (cluster,) = [c for c in out[CLUSTER] if c.name == f"{CLUSTER_NAME}_via_8080"]
    assert cluster.type == cluster_pb2.Cluster.EDS
    assert cluster.eds_cluster_config.service_name == CLUSTER_NAME
    assert not cluster.HasField("load_assignment")
    assert _addresses(out) == ["198.18.0.11"]
    Snapshot(out)


def test_a_kubernetes_virtual_node_with_aws_cloud_map_loads(tmp_path):
    # The App Mesh controller's v1beta2 VirtualNode has the same awsCloudMap shape.
    from proxyinit.k8s.meshinput import load_mesh_file

    manifests = (Path(__file__).parents[1] / "data/k8s/howto-k8s.yaml").read_text()
    dns = "    dns:\n      hostname: front.howto.svc.cluster.local"
    assert dns in manifests
    cloud_map = (
        "    awsCloudMap:\n      namespaceName: howto.local\n      serviceName: front\n"
        "      attributes:\n        - key: stage\n          value: prod"
    )
    path = tmp_path / "manifests.yaml"
    path.write_text(manifests.replace(dns, cloud_map, 1))
    (model,) = load_mesh_file(path).values()
    assert model.cloud_map_queries() == {
        CloudMapQuery("howto.local", "front", (("stage", "prod"),))
    }
