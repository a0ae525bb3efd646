"""Embedded xDS control plane: snapshot -> cache -> gRPC ADS server."""
