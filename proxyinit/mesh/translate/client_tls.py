"""Client policy TLS on egress clusters (issue 9): which policy applies to a backend, and the
cluster that originates TLS with it (pure).

A backend's own `clientPolicy` wins over the node's `backendDefaults.clientPolicy` (App Mesh
user guide, "TLS encryption"). A policy that is not enforced, or whose `ports` do not name the
target's port, leaves that cluster plaintext. TLS clusters get their own name (a digest of the
policy and SNI), so two backends reaching one node with different policies never share one.
"""

from __future__ import annotations

import hashlib
import json

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2

from proxyinit.mesh.model.resources import VirtualServiceBackend
from proxyinit.mesh.model.tls import BackendDefaults, ClientPolicyTls
from proxyinit.mesh.translate.parts import Parts
from proxyinit.mesh.translate.protos import refusing_filter_chain
from proxyinit.mesh.translate.tls import tls_chains, upstream_socket

# (policy, SNI): the SNI is the backend virtual service's name, as App Mesh's Envoy sent it.
ClientTls = tuple[ClientPolicyTls, str]


def client_tls(
    backend: VirtualServiceBackend, defaults: BackendDefaults | None, sni: str
) -> ClientTls | None:
    for policy in (backend.client_policy, defaults and defaults.client_policy):
        if policy is not None and policy.tls is not None:
            return policy.tls, sni
    return None


def gateway_client_tls(defaults, sni: str) -> ClientTls | None:
    """A virtual gateway has only `backendDefaults.clientPolicy` (VirtualGatewayBackendDefaults)."""
    policy = defaults and defaults.client_policy
    return (policy.tls, sni) if policy is not None and policy.tls is not None else None


def gateway_tls_chains(chain, tls, port: int, parts: Parts) -> list:
    """A gateway listener's chain as its `tls` wants it (a refusing one if not served)."""
    name = f"ingress_tls_unavailable_{port}"
    return tls_chains(chain, tls, lambda: refusing_filter_chain(name, port, name), parts)


def tls_cluster_name(name: str, tls: ClientTls) -> str:
    policy, sni = tls
    payload = json.dumps([policy.to_api(), sni], sort_keys=True).encode()
    return f"{name}_tls_{hashlib.sha256(payload).hexdigest()[:8]}"


def originate_tls(
    cluster: cluster_pb2.Cluster, parts: Parts, policy: ClientPolicyTls, sni: str
) -> None:
    """TLS to the cluster's endpoints; a certificate that cannot be served leaves none (503s,
    never plaintext: fail closed)."""
    socket = upstream_socket(policy, sni, parts)
    if socket is not None:
        cluster.transport_socket.CopyFrom(socket)
        return
    cluster.type = cluster_pb2.Cluster.STATIC
    cluster.ClearField("dns_lookup_family")
    cluster.load_assignment.CopyFrom(endpoint_pb2.ClusterLoadAssignment(cluster_name=cluster.name))
