"""Pure translation of a validated MeshModel into one Envoy node's resources (no I/O).

    translate_node(model, NodeId("default", "colorgateway-vn"))
      -> {CLUSTER: [...], ENDPOINT: [], LISTENER: [ingress, egress], ROUTE: [...]}

keyed by the type URLs of proxyinit.xds.types. Every name a listener or route refers to is in the
output: each RDS name has its RouteConfiguration, each cluster a route or tcp_proxy names is a
Cluster. proxyinit.xds.snapshot checks that before anything is published (the tests too).
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import Message

from proxyinit.contract import DNS_PORT, NodeId
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.translate.access_log import add_access_logs
from proxyinit.mesh.translate.dns import translate_dns
from proxyinit.mesh.translate.egress import translate_egress
from proxyinit.mesh.translate.gateway import translate_gateway
from proxyinit.mesh.translate.ingress import translate_ingress
from proxyinit.mesh.translate.parts import Parts
from proxyinit.mesh.translate.sds import Pem


def translate_node(
    model: MeshModel,
    node: NodeId,
    certificates: Mapping[str, Pem] | None = None,
    dns_port: int = DNS_PORT,
) -> dict[str, list[Message]]:
    """The Envoy resources for virtual node (or gateway) `node` of `model`. Unknown -> ConfigError.

    `certificates`: the PEMs the control plane serves over SDS, by id (translate/sds.py); the
    node gets only those its own spec names. `dns_port`: the DNS listener's (translate/dns.py),
    the redirector's PROXYINIT_DNS_PORT."""
    if node.mesh != model.name:
        raise ConfigError(f"node {str(node)!r}: mesh {node.mesh!r} is not mesh {model.name!r}")
    if node.is_gateway:
        # An Envoy-only service: no ingress/egress.
        return translate_gateway(model, node.node, certificates)
    virtual_node = model.node(node.node)
    parts = Parts(available=certificates or {})
    translate_ingress(model.name, virtual_node, parts, model.ip_preference(virtual_node))
    translate_egress(model, virtual_node, parts)
    add_access_logs(parts.listeners, virtual_node.spec.logging)
    translate_dns(model, virtual_node, parts, dns_port)
    return parts.by_type()
