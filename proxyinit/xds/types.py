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
SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

# The order of this tuple matters: it is the order responses are sent on an ADS stream
# (SDS -> CDS -> EDS -> LDS -> RDS), so a listener never references a cluster Envoy has not seen
# yet, and a secret is there before the cluster or listener that uses it (as go-control-plane's
# ADS ordering puts secrets ahead of what warms on them).
PUSH_ORDER: tuple[str, ...] = (SECRET, CLUSTER, ENDPOINT, LISTENER, ROUTE)


def filter_chains(listener) -> list:
    """Every filter chain of an envoy.config.listener.v3.Listener, its default one included."""
    chains = list(listener.filter_chains)
    if listener.HasField("default_filter_chain"):
        chains.append(listener.default_filter_chain)
    return chains
