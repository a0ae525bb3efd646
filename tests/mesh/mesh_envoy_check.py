"""Offline check of translated resources with the real Envoy: `envoy --mode validate`.

ADS-delivered routes cannot be static, so each HTTP connection manager's RDS reference is replaced
by the RouteConfiguration it names (inline `route_config`); clusters and listeners go in
`static_resources` unchanged. Envoy then parses and validates everything as it would on an ACK.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf.json_format import MessageToDict

from proxyinit.mesh.runtime.envoy import find_envoy_binary
from proxyinit.xds.types import CLUSTER, LISTENER, ROUTE, filter_chains


def _inline_routes(listener, route_configs: dict) -> None:
    for chain in filter_chains(listener):
        for filter_ in chain.filters:
            if filter_.typed_config.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
                manager = hcm_pb2.HttpConnectionManager()
                filter_.typed_config.Unpack(manager)
                manager.route_config.CopyFrom(route_configs[manager.rds.route_config_name])
                filter_.typed_config.Pack(manager)


def static_bootstrap(resources: dict) -> dict:
    route_configs = {r.name: r for r in resources[ROUTE]}
    listeners = []
    for listener in resources[LISTENER]:
        copy = type(listener)()
        copy.CopyFrom(listener)
        _inline_routes(copy, route_configs)
        listeners.append(MessageToDict(copy))
    return {
        "node": {"id": "mesh/test/virtualNode/test", "cluster": "test"},
        "static_resources": {
            "listeners": listeners,
            "clusters": [MessageToDict(c) for c in resources[CLUSTER]],
        },
    }


def envoy_validate(resources: dict, workdir: Path) -> subprocess.CompletedProcess:
    config = workdir / "bootstrap.json"
    config.write_text(json.dumps(static_bootstrap(resources)))
    return subprocess.run(
        [
            find_envoy_binary(),  # the one way Envoy is found; no binary is an error, not a skip
            "--mode",
            "validate",
            "-c",
            str(config),
            "--log-level",
            "warn",
            "--disable-hot-restart",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def with_real_certs(resources: list, directory: Path) -> list:
    """`resources` with the scenarios' certificate paths (mesh_scenarios.CERTS) moved to PEM files
    generated in `directory`: Envoy reads them even in validate mode."""
    import shutil

    from tests.mesh.mesh_scenarios import CERTS
    from tests.support.certs import TestCa

    ca = TestCa(directory)
    shutil.copy(ca.path, directory / "ca.pem")
    for name in ("teller", "gateway"):
        ca.leaf(name, f"{name}.default.svc")
    return json.loads(json.dumps(resources).replace(CERTS, str(directory)))


def _static_secret_refs(value):
    """Every SdsSecretConfig's `sdsConfig` (ADS) dropped: the name then refers to a static secret."""
    if isinstance(value, dict):
        if "sdsConfig" in value and "name" in value:
            del value["sdsConfig"]
        for item in value.values():
            _static_secret_refs(item)
    elif isinstance(value, list):
        for item in value:
            _static_secret_refs(item)


def served_bootstrap(resources: dict) -> dict:
    """`static_bootstrap` of what an ADS server served (tests/support/xds_dump.py): EDS clusters
    become STATIC with their served ClusterLoadAssignment, SDS secrets static secrets, so Envoy
    validates endpoints and secrets too (and refuses a name the server did not serve)."""
    from proxyinit.xds.types import ENDPOINT, SECRET

    bootstrap = static_bootstrap(resources)
    assignments = {a.cluster_name: MessageToDict(a) for a in resources.get(ENDPOINT, [])}
    for cluster in bootstrap["static_resources"]["clusters"]:
        if "edsClusterConfig" in cluster:
            service = cluster.pop("edsClusterConfig").get("serviceName", cluster["name"])
            cluster["type"] = "STATIC"
            cluster["loadAssignment"] = {**assignments[service], "clusterName": cluster["name"]}
    _static_secret_refs(bootstrap)
    bootstrap["static_resources"]["secrets"] = [MessageToDict(s) for s in resources.get(SECRET, [])]
    return bootstrap


def envoy_validate_bootstrap(bootstrap: dict, workdir: Path) -> subprocess.CompletedProcess:
    config = workdir / "bootstrap.json"
    config.write_text(json.dumps(bootstrap))
    return subprocess.run(
        [find_envoy_binary(), "--mode", "validate", "-c", str(config), "--log-level", "warn",
         "--disable-hot-restart"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
