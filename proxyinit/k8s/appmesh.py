"""The App Mesh controller's `appmesh.k8s.aws/v1beta2` resources -> App Mesh create-* inputs.

As the controller (aws-app-mesh-controller-for-k8s) did it:
- names: `spec.awsName`, else its webhook mutators' defaults (names.py): Mesh `<name>`,
  VirtualNode, VirtualRouter, VirtualGateway and GatewayRoute `<name>_<namespace>`,
  VirtualService `<name>.<namespace>`; a VirtualRouter's inline `routes[]` become Routes named
  `routes[].name`;
- mesh membership: `spec.meshRef` if the manifest carries it (`kubectl get -o yaml` output),
  else the one Mesh whose `namespaceSelector` selects the object's Namespace labels (absent
  selects nothing, `{}` everything);
- references by object (`virtualServiceRef`, `virtualNodeRef`, `virtualRouterRef`: namespace
  defaults to the referring object's) or by ARN; a referenced object must be in the same mesh;
- `backendGroups` expanded into backends (`name: "*"`: every VirtualService of the namespace);
- VirtualGateway and GatewayRoute as in gateways.py.
Other kinds are counted and skipped; v1beta1 is refused by name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from proxyinit.k8s.gateways import GatewayKinds
from proxyinit.k8s.manifests import Obj, selector_matches
from proxyinit.k8s.names import aws_name, fail

GROUP = "appmesh.k8s.aws"
VERSION = f"{GROUP}/v1beta2"
TRANSLATED = (
    "Mesh",
    "VirtualNode",
    "VirtualService",
    "VirtualRouter",
    "BackendGroup",
    "VirtualGateway",
    "GatewayRoute",
)
ROUTE_KINDS = ("httpRoute", "http2Route", "grpcRoute", "tcpRoute")


@dataclass
class Translation:
    items: list[dict] = field(default_factory=list)  # create-* inputs, in input order
    # (App Mesh kind, mesh, App Mesh name) -> the object it came from, for error messages
    origins: dict[tuple[str, str, str], Obj] = field(default_factory=dict)
    sources: list[Obj] = field(default_factory=list)  # the object of each item
    spec_paths: list[str] = field(default_factory=list)  # where its spec is in that object
    skipped: Counter = field(default_factory=Counter)
    nodes: list[tuple[Obj, str, str]] = field(default_factory=list)  # (VirtualNode, mesh, name)
    gateways: list[tuple[Obj, str, str]] = field(default_factory=list)  # (VirtualGateway, ...)


class Index:
    """The input's objects by kind/namespace/name, and the namespaces' labels."""

    def __init__(self, objs: list[Obj]):
        self.labels: dict[str, dict] = {}
        self.objs: dict[tuple[str, str, str], Obj] = {}
        self.skipped: Counter = Counter()
        for obj in objs:
            self._add(obj)

    def _add(self, obj: Obj) -> None:
        if obj.api_version.split("/")[0] != GROUP:
            if obj.kind == "Namespace":
                self.labels[obj.name] = dict(obj.meta.get("labels") or {})
            self.skipped[obj.kind] += 1
            return
        if obj.api_version != VERSION:
            raise fail(
                obj,
                "apiVersion",
                f"convert it to {VERSION} (the controller's v1 CRDs)",
                obj.api_version,
            )
        if obj.kind not in TRANSLATED:
            raise fail(obj, "kind", f"unknown {GROUP} kind", obj.kind)
        if not obj.name:
            raise fail(obj, "metadata.name", "is required", obj.meta.get("name"))
        if not isinstance(obj.body.get("spec", {}), dict):
            raise fail(obj, "spec", "expected a mapping", obj.body["spec"])
        key = (obj.kind, "" if obj.kind == "Mesh" else obj.namespace, obj.name)
        if key in self.objs:
            raise fail(obj, "metadata.name", "declared twice in the input", obj.name)
        self.objs[key] = obj

    def of_kind(self, kind: str) -> list[Obj]:
        return [obj for (k, _, _), obj in self.objs.items() if k == kind]

    def find(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.objs.get((kind, "" if kind == "Mesh" else namespace, name))


class Translator(GatewayKinds):
    def __init__(self, index: Index):
        self.index = index
        self.out = Translation(skipped=index.skipped)

    def run(self) -> Translation:
        for obj in self.index.objs.values():
            if obj.kind == "Mesh":
                self._emit(obj, "Mesh", obj, self._mesh(obj))
        for obj in self.index.objs.values():
            if obj.kind == "VirtualNode":
                self._emit(obj, "VirtualNode", self.mesh_of(obj), self._node(obj))
            elif obj.kind == "VirtualService":
                self._emit(obj, "VirtualService", self.mesh_of(obj), self._service(obj))
            elif obj.kind == "VirtualRouter":
                self._router(obj)
        self.gateway_kinds()  # after the services their routes target
        return self.out

    def _emit(
        self, obj: Obj, kind: str, mesh: str | Obj, item: dict, spec_at: str = "spec."
    ) -> None:
        mesh_name = aws_name(mesh) if isinstance(mesh, Obj) else mesh
        item = {"meshName": mesh_name, **item}
        name = aws_name(obj) if kind != "Route" else item["routeName"]
        self.out.items.append(item)
        self.out.sources.append(obj)
        self.out.spec_paths.append(spec_at)
        self.out.origins[(kind, mesh_name, name)] = obj
        if kind == "VirtualNode":
            self.out.nodes.append((obj, mesh_name, name))
        elif kind == "VirtualGateway":
            self.out.gateways.append((obj, mesh_name, name))

    # ------------------------------------------------------------------ membership
    def mesh_of(self, obj: Obj) -> str:
        """The App Mesh name of the mesh an object belongs to (the controller's designator)."""
        ref = obj.spec.get("meshRef")
        if ref is not None:
            if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
                raise fail(obj, "spec.meshRef", "expected {name: MESH}", ref)
            mesh = self.index.find("Mesh", "", ref["name"])
            return aws_name(mesh) if mesh else ref["name"]
        meshes = self.index.of_kind("Mesh")
        labels = self.index.labels.get(obj.namespace)
        if labels is None and len(meshes) == 1:
            return aws_name(meshes[0])  # one mesh, namespace labels not in the input: that mesh
        found = []
        for mesh in meshes:
            try:
                if selector_matches(mesh.spec.get("namespaceSelector"), labels or {}, ""):
                    found.append(mesh)
            except ValueError as err:
                raise fail(mesh, f"spec.namespaceSelector{err}", "invalid", mesh.spec) from None
        if len(found) != 1:
            names = ", ".join(m.name for m in found) or "none"
            raise fail(
                obj,
                "metadata.namespace",
                f"expecting 1 Mesh whose namespaceSelector selects this namespace's labels "
                f"{labels or {}}, found {len(found)} ({names}); add the Namespace with its "
                "labels to the input, or spec.meshRef",
                obj.namespace,
            )
        return aws_name(found[0])

    # ------------------------------------------------------------------ references
    def resolve(self, obj: Obj, holder: Any, path: str, kind: str) -> str:
        """`<kind>Ref` ({namespace?, name}) or `<kind>ARN` in `holder` -> App Mesh name."""
        lower = kind[0].lower() + kind[1:]
        ref, arn = (holder or {}).get(f"{lower}Ref"), (holder or {}).get(f"{lower}ARN")
        if (ref is None) == (arn is None):
            raise fail(obj, path, f"give exactly one of {lower}Ref, {lower}ARN", holder)
        if arn is not None:
            return self._arn_name(obj, arn, f"{path}.{lower}ARN", lower)
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
            raise fail(obj, f"{path}.{lower}Ref", "expected {name, namespace?}", ref)
        namespace = ref.get("namespace") or obj.namespace
        target = self.index.find(kind, namespace, ref["name"])
        if target is None:
            raise fail(
                obj, f"{path}.{lower}Ref", f"no {kind} {namespace}/{ref['name']} in the input", ref
            )
        mine, theirs = self.mesh_of(obj), self.mesh_of(target)
        if mine != theirs:
            raise fail(
                obj,
                f"{path}.{lower}Ref",
                f"{kind} {namespace}/{ref['name']} is in mesh {theirs!r}, not {mine!r}",
                ref,
            )
        return aws_name(target)

    def _arn_name(self, obj: Obj, arn: Any, path: str, lower: str) -> str:
        # arn:aws:appmesh:<region>:<account>:mesh/<mesh>/<virtualNode|...>/<name>
        parts = arn.split(":", 5) if isinstance(arn, str) else []
        resource = parts[5].split("/") if len(parts) == 6 else []
        if parts[:3] != ["arn", "aws", "appmesh"] or len(resource) != 4 or resource[2] != lower:
            raise fail(
                obj, path, f"expected arn:aws:appmesh:REGION:ACCOUNT:mesh/M/{lower}/NAME", arn
            )
        if resource[1] != self.mesh_of(obj):
            raise fail(obj, path, f"names mesh {resource[1]!r}, not {self.mesh_of(obj)!r}", arn)
        return resource[3]

    # ------------------------------------------------------------------ kinds
    def _mesh(self, obj: Obj) -> dict:
        spec = _without(obj.spec, "awsName", "namespaceSelector", "meshOwner")
        return {"spec": spec}

    def _node(self, obj: Obj) -> dict:
        spec = _without(obj.spec, "awsName", "meshRef", "podSelector", "backendGroups")
        backends = []
        for i, backend in enumerate(obj.spec.get("backends") or ()):
            path = f"spec.backends[{i}].virtualService"
            service = backend.get("virtualService") if isinstance(backend, dict) else None
            if not isinstance(service, dict):
                raise fail(obj, path, "expected a mapping", service)
            name = self.resolve(obj, service, path, "VirtualService")
            rest = _without(service, "virtualServiceRef", "virtualServiceARN")
            backends.append({"virtualService": {"virtualServiceName": name, **rest}})
        known = {b["virtualService"]["virtualServiceName"] for b in backends}
        for name in self._group_services(obj):
            if name not in known:
                known.add(name)
                backends.append({"virtualService": {"virtualServiceName": name}})
        if backends:
            spec["backends"] = backends
        return {"virtualNodeName": aws_name(obj), "spec": spec}

    def _group_services(self, obj: Obj) -> list[str]:
        names = []
        for i, group in enumerate(obj.spec.get("backendGroups") or ()):
            path = f"spec.backendGroups[{i}]"
            if not isinstance(group, dict) or not isinstance(group.get("name"), str):
                raise fail(obj, path, "expected {name, namespace?}", group)
            namespace = group.get("namespace") or obj.namespace
            if group["name"] == "*":  # every VirtualService of that namespace (in this mesh)
                services = [
                    s for s in self.index.of_kind("VirtualService") if s.namespace == namespace
                ]
                names += [
                    aws_name(s)
                    for s in sorted(services, key=lambda s: s.name)
                    if self.mesh_of(s) == self.mesh_of(obj)
                ]
                continue
            found = self.index.find("BackendGroup", namespace, group["name"])
            if found is None:
                raise fail(
                    obj, path, f"no BackendGroup {namespace}/{group['name']} in the input", group
                )
            for j, ref in enumerate(found.spec.get("virtualservices") or ()):
                holder = (
                    {"virtualServiceRef": {"namespace": found.namespace, **ref}}
                    if isinstance(ref, dict)
                    else {"virtualServiceRef": ref}
                )
                names.append(
                    self.resolve(found, holder, f"spec.virtualservices[{j}]", "VirtualService")
                )
        return names

    def _service(self, obj: Obj) -> dict:
        spec = _without(obj.spec, "awsName", "meshRef")
        provider = obj.spec.get("provider")
        if isinstance(provider, dict):
            out = {}
            for member, kind in (
                ("virtualNode", "VirtualNode"),
                ("virtualRouter", "VirtualRouter"),
            ):
                if member in provider:
                    name = self.resolve(obj, provider[member], f"spec.provider.{member}", kind)
                    out[member] = {f"{member}Name": name}
            spec["provider"] = {**_without(provider, "virtualNode", "virtualRouter"), **out}
        return {"virtualServiceName": aws_name(obj), "spec": spec}

    def _router(self, obj: Obj) -> None:
        mesh = self.mesh_of(obj)
        spec = _without(obj.spec, "awsName", "meshRef", "routes")
        self._emit(obj, "VirtualRouter", mesh, {"virtualRouterName": aws_name(obj), "spec": spec})
        for i, route in enumerate(obj.spec.get("routes") or ()):
            path = f"spec.routes[{i}]"
            if not isinstance(route, dict) or not isinstance(route.get("name"), str):
                raise fail(obj, f"{path}.name", "every route needs a name", route)
            item = {
                "virtualRouterName": aws_name(obj),
                "routeName": route["name"],
                "spec": self._route_spec(obj, route, path),
            }
            self._emit(obj, "Route", mesh, item, f"{path}.")

    def _route_spec(self, obj: Obj, route: dict, path: str) -> dict:
        """An inline route as a RouteSpec: weightedTargets' node refs resolved to names."""
        body = _without(route, "name")
        for kind in ROUTE_KINDS:
            member = body.get(kind)
            action = member.get("action") if isinstance(member, dict) else None
            targets = action.get("weightedTargets") if isinstance(action, dict) else None
            if isinstance(targets, list):
                at = f"{path}.{kind}.action.weightedTargets"
                resolved = [self._target(obj, t, f"{at}[{j}]") for j, t in enumerate(targets)]
                body[kind] = {**member, "action": {**action, "weightedTargets": resolved}}
        return body

    def _target(self, obj: Obj, target: Any, path: str) -> dict:
        if not isinstance(target, dict):
            raise fail(obj, path, "expected a mapping", target)
        name = self.resolve(obj, target, path, "VirtualNode")
        return {"virtualNode": name, **_without(target, "virtualNodeRef", "virtualNodeARN")}


def _without(mapping: dict, *keys: str) -> dict:
    return {k: v for k, v in mapping.items() if k not in keys}


def translate(objs: list[Obj]) -> Translation:
    return Translator(Index(objs)).run()
