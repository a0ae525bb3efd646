"""An xDS protocol library: snapshot -> cache -> gRPC ADS server (+ debug endpoint).

It knows nothing of App Mesh: proxyinit.controlplane feeds it snapshots and its node key."""
