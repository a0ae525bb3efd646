"""proxyinit: App Mesh-compatible traffic redirector and embedded xDS control plane."""

__version__ = "0.1.0"
