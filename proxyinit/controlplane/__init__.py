"""The composition root of the control plane: the one place that wires model, store, API and xDS.

- `publisher`: meshes -> translated, consistency-checked snapshots (prepare) -> cache (publish).
- `meshfile_source`: the mesh file, watched; each valid edit is published whole.
- `plane`: `ControlPlane`, the running server in either mode (mesh file, or store + API), with
  one start/stop and one signal loop.
- `cli`: `proxyinit xds serve` (stdlib imports only at module level).

`xds/` below it is a protocol library that knows nothing of App Mesh; `mesh/`, `store/` and
`api/` know nothing of xDS serving. Only this package imports them all.
"""
