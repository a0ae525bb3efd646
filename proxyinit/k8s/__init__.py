"""Kubernetes input: the App Mesh controller's `appmesh.k8s.aws/v1beta2` resources as mesh input.

`manifests` reads manifest files (multi-document YAML, `List` objects, a directory of them);
`appmesh` translates the controller's custom resources into App Mesh create-* inputs as the
controller and its webhook mutators did (names, references, mesh membership); `meshinput` is
what `mesh apply -f` and `xds serve --mesh-file` call. Nothing happens at import.
"""
