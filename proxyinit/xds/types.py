"""The xDS resource types this library serves, in push order. Dependency-free leaf module.

A producer of configuration (proxyinit's translator) builds, per Envoy node, a mapping
{type_url: [resource protos]} keyed by these URLs; the snapshot module freezes it; the server only
ever sees snapshots. The xDS package knows nothing of its producers.
"""

from __future__ import annotations

CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

# The order of this tuple matters: it is the order responses are sent on an ADS stream
# (CDS -> EDS -> LDS -> RDS), so a listener never references a cluster Envoy has not seen yet.
PUSH_ORDER: tuple[str, ...] = (CLUSTER, ENDPOINT, LISTENER, ROUTE)
