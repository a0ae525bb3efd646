"""Envoy resource names, in the scheme App Mesh used, so dashboards and habits carry over.

Listeners `lds_<direction>_<address>_<port>`, route configurations `rds_<direction>_<proto>_<port>`,
clusters `cds_<direction>_<mesh>_<node>_<proto>_<port>` (as App Mesh's Envoy config did).
"""

from __future__ import annotations

from proxyinit.contract import EGRESS_PORT, INGRESS_PORT

BIND_ADDRESS = "0.0.0.0"  # REDIRECT from PREROUTING arrives on the interface address, not loopback
# With an ipPreference App Mesh bound "all IPv4 and IPv6 addresses" (howto-ipv6); the listener
# names keep the IPv4 address, so dashboards do not change.
BIND_ADDRESS_V6 = "::"

INGRESS_LISTENER = f"lds_ingress_{BIND_ADDRESS}_{INGRESS_PORT}"
EGRESS_LISTENER = f"lds_egress_{BIND_ADDRESS}_{EGRESS_PORT}"
# No `_<proto>_<port>` suffix, so it can never equal a node's egress cluster name.
PASSTHROUGH_CLUSTER = "cds_egress_passthrough"


def ingress_route_config(protocol: str, port: int) -> str:
    return f"rds_ingress_{protocol}_{port}"


def ingress_cluster(mesh: str, node: str, protocol: str, port: int) -> str:
    return f"cds_ingress_{mesh}_{node}_{protocol}_{port}"


def egress_route_config(port: int) -> str:
    # One per egress port whatever the http-family protocol: http, http2 and grpc backends on the
    # same port share one HTTP connection manager and are told apart by Host header.
    return f"rds_egress_http_{port}"


def egress_cluster(mesh: str, node: str, protocol: str, port: int) -> str:
    return f"cds_egress_{mesh}_{node}_{protocol}_{port}"
