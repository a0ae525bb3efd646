"""Contracts shared by the mesh translator and the xDS server. Dependency-free leaf module.

The translator produces, per Envoy node, a mapping {type_url: [resource protos]}; the snapshot
module freezes it; the server only ever sees snapshots. Neither side imports the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxyinit.errors import ConfigError

CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

# The order of this tuple matters: it is the order responses are sent on an ADS stream
# (CDS -> EDS -> LDS -> RDS), so a listener never references a cluster Envoy has not seen yet.
PUSH_ORDER: tuple[str, ...] = (CLUSTER, ENDPOINT, LISTENER, ROUTE)

_NODE_ID = re.compile(
    r"^mesh/(?P<mesh>[A-Za-z0-9][A-Za-z0-9_.-]{0,254})/virtualNode/(?P<node>[A-Za-z0-9][A-Za-z0-9_.-]{0,254})$"
)


@dataclass(frozen=True)
class NodeId:
    """An Envoy node id in App Mesh's convention: `mesh/<mesh>/virtualNode/<node>`."""

    mesh: str
    node: str

    @classmethod
    def parse(cls, raw: str) -> NodeId:
        match = _NODE_ID.match(raw or "")
        if not match:
            raise ConfigError(f"node id {raw!r} is not of the form mesh/<mesh>/virtualNode/<node>")
        return cls(match["mesh"], match["node"])

    def __str__(self) -> str:
        return f"mesh/{self.mesh}/virtualNode/{self.node}"
