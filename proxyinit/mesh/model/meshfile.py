"""The mesh file: a YAML or JSON list of App Mesh resources, as `aws appmesh create-* --cli-input-json` takes them.

    - meshName: default                      # Mesh
      spec: {egressFilter: {type: DROP_ALL}}
    - meshName: default                      # VirtualNode
      virtualNodeName: colorteller-vn
      spec: {...}
    - {meshName: default, virtualServiceName: colorteller.default.svc.cluster.local, spec: {...}}
    - {meshName: default, virtualRouterName: colorteller-vr, spec: {...}}
    - {meshName: default, virtualRouterName: colorteller-vr, routeName: colorteller-route, spec: {...}}

The kind is told by the name keys (gatewayRouteName > virtualGatewayName > routeName > virtualRouterName > virtualServiceName >
virtualNodeName > meshName alone). A mesh that resources name but the file does not declare is
created with App Mesh's defaults (egress filter DROP_ALL), as `aws appmesh create-mesh --mesh-name M`
would: the walkthrough's preview files never declare their mesh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from proxyinit.bounds import load_yaml, mesh_file_text, read_mesh_file
from proxyinit.contract import echo
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.build import build_mesh
from proxyinit.mesh.model.gateway import GatewayRoute, VirtualGateway
from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.mesh.model.problems import from_validation_error, resource_error
from proxyinit.mesh.model.resources import Mesh, Route, VirtualNode, VirtualRouter, VirtualService

# Order matters: a Route also carries virtualRouterName, so the most specific key is tried first.
_KINDS: tuple[tuple[str, type], ...] = (
    ("gatewayRouteName", GatewayRoute),
    ("virtualGatewayName", VirtualGateway),
    ("routeName", Route),
    ("virtualRouterName", VirtualRouter),
    ("virtualServiceName", VirtualService),
    ("virtualNodeName", VirtualNode),
)


def load_mesh_file(path: str | Path, data: bytes | None = None) -> dict[str, MeshModel]:
    """Read, parse and validate a mesh file; {mesh name: MeshModel}. Bad input -> ConfigError.
    `data`: the file's bytes when the caller has read them already (errors still name `path`)."""
    path = Path(path)
    text = read_mesh_file(path) if data is None else mesh_file_text(path, data)
    # Bounded (size, nesting, YAML aliases) before anything is built: an alias bomb must be
    # refused here, not expanded by validation. The libyaml loader when present: the pure-Python
    # one is most of the time from a file edit to the push (~6 ms).
    items = load_yaml(text, f"mesh file {str(path)!r}")
    if items is None:
        # An empty file is what a reader sees in the middle of a non-atomic rewrite; serving it
        # would drop every node's config. "No meshes" must be said explicitly: `[]`.
        raise ConfigError(f"mesh file {str(path)!r} is empty (write [] to serve no meshes)")
    try:
        return parse_resources(items)
    except ConfigError as exc:
        raise ConfigError(f"mesh file {str(path)!r}: {exc}") from None


def parse_resources(items: Any) -> dict[str, MeshModel]:
    """Validate a list of resource dicts (create-* input shape); {mesh name: MeshModel}."""
    if not isinstance(items, list):
        raise ConfigError(f"expected a list of App Mesh resources, got {type(items).__name__}")
    meshes: dict[str, Mesh] = {}
    members: dict[str, list] = {}
    for index, item in enumerate(items):
        resource = parse_resource(item, index)
        if isinstance(resource, Mesh):
            if resource.mesh_name in meshes:
                raise resource_error(
                    "Mesh",
                    resource.mesh_name,
                    None,
                    "meshName",
                    "declared twice",
                    resource.mesh_name,
                )
            meshes[resource.mesh_name] = resource
        members.setdefault(resource.mesh_name, []).append(resource)
    return build_meshes(meshes, members)


def build_meshes(meshes: dict[str, Mesh], members: dict[str, list]) -> dict[str, MeshModel]:
    out: dict[str, MeshModel] = {}
    for name in sorted(members):
        mesh = meshes.get(name) or Mesh(mesh_name=name)
        out[name] = build_mesh(mesh, (r for r in members[name] if not isinstance(r, Mesh)))
    return out


def kind_of(item: dict) -> type:
    for key, cls in _KINDS:
        if key in item:
            return cls
    return Mesh


def parse_resource(
    item: Any, index: int = 0
) -> Mesh | VirtualNode | VirtualService | VirtualRouter | Route:
    """One resource dict -> its model; ConfigError naming kind, name, field and value."""
    if not isinstance(item, dict):
        raise ConfigError(
            f"resource [{index}]: expected a mapping, got {type(item).__name__}: {echo(item, 80)}"
        )
    cls = kind_of(item)
    name = _display_name(item, cls)
    mesh = item.get("meshName")
    if not mesh:
        raise resource_error(
            cls.KIND, name, None, "meshName", f"resource [{index}] needs a meshName", mesh
        )
    try:
        return cls.model_validate(item)
    except ValidationError as exc:
        raise from_validation_error(
            cls.KIND, name, None if cls is Mesh else str(mesh), exc
        ) from None


def _display_name(item: dict, cls: type) -> str:
    key = {
        GatewayRoute: "gatewayRouteName",
        VirtualGateway: "virtualGatewayName",
        Route: "routeName",
        VirtualRouter: "virtualRouterName",
        VirtualService: "virtualServiceName",
        VirtualNode: "virtualNodeName",
        Mesh: "meshName",
    }[cls]
    name = item.get(key, "?")
    return name if isinstance(name, str) else echo(name, 80)
