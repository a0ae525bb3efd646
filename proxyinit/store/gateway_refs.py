"""The API Reference's delete constraints that gateway routes add (and only those).

A virtual gateway cannot be deleted while it has gateway routes (DeleteVirtualGateway), nor a
virtual service while a gateway route targets it (DeleteVirtualService): ResourceInUse, naming
them. Read from the stored specs, so the message names every route in the way.
"""

from __future__ import annotations

from collections.abc import Mapping

from proxyinit.store.base import Key, Record
from proxyinit.store.errors import InUse


def check_gateway_routes(records: Mapping[Key, Record], key: Key, described: str) -> None:
    routes = [k for k in records if k.kind == "GatewayRoute" and k.mesh == key.mesh]
    if key.kind == "VirtualGateway":
        mine = sorted(k.name for k in routes if k.router == key.name)
        if mine:
            raise InUse(f"{described} still has gateway routes {mine}; delete them first")
        return
    targeting = sorted(
        f"{k.router}/{k.name}" for k in routes if gateway_route_target(records[k].spec) == key.name
    )
    if targeting:
        raise InUse(
            f"{described} is the target of gateway route(s) {targeting} "
            "(virtual gateway/gateway route); update or delete them first"
        )


def gateway_route_target(spec: dict) -> str | None:
    """The virtual service a stored GatewayRouteSpec targets (its one route member's action)."""
    body = next((v for v in spec.values() if isinstance(v, dict)), {})
    target = (body.get("action") or {}).get("target") or {}
    return (target.get("virtualService") or {}).get("virtualServiceName")
