"""Parts: the Envoy resources of one node while they are being assembled (translation only).

Clusters are keyed by name: two routes to the same target node and port share one cluster, and
adding the same cluster twice must give the same proto (a differing one is a translator bug).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from google.protobuf.message import Message

from proxyinit.xds.types import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET


@dataclass
class Parts:
    clusters: dict[str, Message] = field(default_factory=dict)
    listeners: list[Message] = field(default_factory=list)
    route_configs: dict[str, Message] = field(default_factory=dict)
    # PEMs the control plane can serve over SDS (sds.py), and the secrets this node uses of them.
    available: Mapping[str, tuple[bytes, bytes | None]] = field(default_factory=dict)
    secrets: dict[str, Message] = field(default_factory=dict)

    def add_secret(self, secret: Message) -> None:
        self.secrets[secret.name] = secret

    assignments: dict[str, Message] = field(default_factory=dict)  # EDS (Cloud Map) endpoints

    def add_cluster(self, cluster: Message) -> None:
        known = self.clusters.setdefault(cluster.name, cluster)
        if known != cluster:
            raise AssertionError(f"two different clusters named {cluster.name!r}")

    def add_route_config(self, config: Message) -> None:
        if config.name in self.route_configs:
            raise AssertionError(f"two route configurations named {config.name!r}")
        self.route_configs[config.name] = config

    def add_assignment(self, assignment: Message) -> None:
        known = self.assignments.setdefault(assignment.cluster_name, assignment)
        if known != assignment:
            raise AssertionError(f"two different assignments named {assignment.cluster_name!r}")

    def add_listener(self, listener: Message) -> None:
        self.listeners.append(listener)

    def by_type(self) -> dict[str, list[Message]]:
        """{type URL: resources}, each list sorted by name so the output is deterministic."""
        out = {
            CLUSTER: [self.clusters[name] for name in sorted(self.clusters)],
            # Only Cloud Map nodes' clusters are EDS; the others carry their endpoints inline.
            ENDPOINT: [self.assignments[name] for name in sorted(self.assignments)],
            LISTENER: sorted(self.listeners, key=lambda listener: listener.name),
            ROUTE: [self.route_configs[name] for name in sorted(self.route_configs)],
        }
        if self.secrets:  # only a node whose spec names a served certificate gets any
            out[SECRET] = [self.secrets[name] for name in sorted(self.secrets)]
        return out
