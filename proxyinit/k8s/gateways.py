"""VirtualGateway and GatewayRoute (`appmesh.k8s.aws/v1beta2`) -> create-* inputs, as the App
Mesh controller (aws-app-mesh-controller-for-k8s) did it.

- VirtualGateway: named `spec.awsName`, else `<name>_<namespace>` (its webhook mutator); its
  mesh as for the other kinds (`meshRef`, else the Mesh selecting its namespace).
  `namespaceSelector`, `podSelector` and `gatewayRouteSelector` say which routes and pods belong
  to it: Kubernetes-only, they are no App Mesh fields and are dropped.
- GatewayRoute: named `spec.awsName`, else `<name>_<namespace>`. Its gateway is
  `spec.virtualGatewayRef` when the manifest carries it (`kubectl get -o yaml`; the namespace
  defaults to the route's), else the one VirtualGateway whose `namespaceSelector` selects the
  route's Namespace labels (absent: none, `{}`: all) and whose `gatewayRouteSelector` selects the
  route's own labels (absent or `{}`: all), as pkg/virtualgateway's membership designator did it;
  none or several is an error, as the webhook refused the route. The gateway must be in the
  route's mesh. Targets: `virtualServiceRef` (namespace defaults to the route's) or
  `virtualServiceARN`, resolved to the service's App Mesh name.
"""

from __future__ import annotations

from typing import Any

from proxyinit.k8s.manifests import Obj, selector_matches
from proxyinit.k8s.names import aws_name, fail

GATEWAY_ONLY = ("awsName", "meshRef", "namespaceSelector", "podSelector", "gatewayRouteSelector")
ROUTE_ONLY = ("awsName", "meshRef", "virtualGatewayRef")
GATEWAY_ROUTE_KINDS = ("httpRoute", "http2Route", "grpcRoute")


class GatewayKinds:
    """Mixin of appmesh.Translator, whose `index`, `mesh_of`, `resolve` and `_emit` it uses."""

    index: Any

    def gateway_kinds(self) -> None:
        for obj in self.index.of_kind("VirtualGateway"):
            item = {"virtualGatewayName": aws_name(obj), "spec": _without(obj.spec, GATEWAY_ONLY)}
            self._emit(obj, "VirtualGateway", self.mesh_of(obj), item)
        for obj in self.index.of_kind("GatewayRoute"):
            item = {
                "virtualGatewayName": self.gateway_of(obj),
                "gatewayRouteName": aws_name(obj),
                "spec": self._gateway_route_spec(obj),
            }
            self._emit(obj, "GatewayRoute", self.mesh_of(obj), item)

    def gateway_of(self, route: Obj) -> str:
        """The App Mesh name of the route's VirtualGateway (checked to be in the route's mesh)."""
        ref = route.spec.get("virtualGatewayRef")
        if ref is not None:
            return self.resolve(route, {"virtualGatewayRef": ref}, "spec", "VirtualGateway")
        gateway = self._designated(route)
        mine, theirs = self.mesh_of(route), self.mesh_of(gateway)
        if mine != theirs:
            raise fail(
                route,
                "metadata.namespace",
                f"its VirtualGateway {gateway.namespace}/{gateway.name} is in mesh {theirs!r}, "
                f"not {mine!r}",
                route.namespace,
            )
        return aws_name(gateway)

    def _designated(self, route: Obj) -> Obj:
        labels = self.index.labels.get(route.namespace)
        route_labels = route.meta.get("labels") or {}
        if not isinstance(route_labels, dict):
            raise fail(route, "metadata.labels", "expected a mapping", route_labels)
        found = [
            g for g in self.index.of_kind("VirtualGateway") if _selects(g, labels, route_labels)
        ]
        if len(found) != 1:
            names = ", ".join(f"{g.namespace}/{g.name}" for g in found) or "none"
            raise fail(
                route,
                "metadata.namespace",
                "expecting 1 VirtualGateway whose namespaceSelector selects this namespace's "
                f"labels {labels if labels is not None else '(Namespace not in the input)'} and "
                f"whose gatewayRouteSelector selects the route's labels {route_labels}, found "
                f"{len(found)} ({names}); add the Namespace with its labels to the input, or "
                "spec.virtualGatewayRef",
                route.namespace,
            )
        return found[0]

    def _gateway_route_spec(self, obj: Obj) -> dict:
        """The GatewayRouteSpec: each route kind's target service reference resolved to a name."""
        spec = _without(obj.spec, ROUTE_ONLY)
        for kind in GATEWAY_ROUTE_KINDS:
            member = spec.get(kind)
            action = member.get("action") if isinstance(member, dict) else None
            target = action.get("target") if isinstance(action, dict) else None
            if not isinstance(target, dict):
                continue  # the model's validation names what is missing
            path = f"spec.{kind}.action.target.virtualService"
            service = target.get("virtualService")
            if not isinstance(service, dict):
                raise fail(obj, path, "expected a mapping", service)
            name = self.resolve(obj, service, path, "VirtualService")
            rest = _without(service, ("virtualServiceRef", "virtualServiceARN"))
            target = {**target, "virtualService": {"virtualServiceName": name, **rest}}
            spec[kind] = {**member, "action": {**action, "target": target}}
        return spec


def _selects(gateway: Obj, labels: dict | None, route_labels: dict) -> bool:
    """namespaceSelector on the Namespace's labels (unknown: any given selector may select it)
    and gatewayRouteSelector on the route's labels (absent selects every route)."""
    namespaces = gateway.spec.get("namespaceSelector")
    routes = gateway.spec.get("gatewayRouteSelector")
    if labels is None:
        in_namespace = namespaces is not None
    else:
        in_namespace = _matches(gateway, "namespaceSelector", namespaces, labels)
    return in_namespace and (
        routes is None or _matches(gateway, "gatewayRouteSelector", routes, route_labels)
    )


def _matches(gateway: Obj, field: str, selector: Any, labels: dict) -> bool:
    try:
        return selector_matches(selector, labels, "")
    except ValueError as err:
        raise fail(gateway, f"spec.{field}{err}", "invalid", selector) from None


def _without(mapping: dict, keys: tuple[str, ...]) -> dict:
    return {k: v for k, v in mapping.items() if k not in keys}
