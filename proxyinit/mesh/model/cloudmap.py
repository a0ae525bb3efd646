"""`serviceDiscovery.awsCloudMap` (2019-01-25 model) and the instances discovered for it.

The shape is botocore's `AwsCloudMapServiceDiscovery` (namespaceName, serviceName, attributes,
ipPreference). What Cloud Map answers is not part of a mesh spec: the control plane discovers it
(controlplane/cloudmap.py) and hands it to translation as data, keyed by `CloudMapQuery`, so
translation stays pure (MeshModel.discovered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from proxyinit.mesh.model.base import ApiModel

IpPreference = Literal["IPv6_PREFERRED", "IPv4_PREFERRED", "IPv4_ONLY", "IPv6_ONLY"]


class AwsCloudMapInstanceAttribute(ApiModel):
    # Bounds and patterns of botocore's AwsCloudMapInstanceAttributeKey / ...Value.
    key: str = Field(min_length=1, max_length=255, pattern=r"^[a-zA-Z0-9!-~]+$")
    value: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^([a-zA-Z0-9!-~][ a-zA-Z0-9!-~]*){0,1}[a-zA-Z0-9!-~]{0,1}$",
    )


class AwsCloudMapServiceDiscovery(ApiModel):
    namespace_name: str = Field(min_length=1, max_length=1024)
    service_name: str = Field(min_length=1, max_length=1024)
    # Only instances carrying every one of these key/value pairs are endpoints (QueryParameters).
    attributes: tuple[AwsCloudMapInstanceAttribute, ...] | None = None
    ip_preference: IpPreference | None = None

    def query(self) -> CloudMapQuery:
        pairs = tuple(sorted((a.key, a.value) for a in self.attributes or ()))
        return CloudMapQuery(self.namespace_name, self.service_name, pairs)


@dataclass(frozen=True, order=True)
class CloudMapQuery:
    """One DiscoverInstances call: two nodes with the same query share its answer."""

    namespace: str
    service: str
    attributes: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.service}"
        return where + "".join(f" {k}={v}" for k, v in self.attributes)


@dataclass(frozen=True, order=True)
class CloudMapInstance:
    """A registered instance's addresses (its AWS_INSTANCE_IPV4 / AWS_INSTANCE_IPV6 attributes)."""

    instance_id: str
    ipv4: str | None = None
    ipv6: str | None = None

    def address(self, preference: str | None) -> str | None:
        """The address Envoy connects to; None when the preference excludes both."""
        if preference == "IPv4_ONLY":
            return self.ipv4
        if preference == "IPv6_ONLY":
            return self.ipv6
        if preference == "IPv6_PREFERRED":
            return self.ipv6 or self.ipv4
        # IPv4_PREFERRED, and no preference (App Mesh's Envoy defaults to IPv4 first).
        return self.ipv4 or self.ipv6
