"""Named scenarios for the mesh translation goldens: mutators of one base config, the colorapp.

The base is examples/colorapp/mesh.yaml (the walkthrough in the 2019 GA shape). Each scenario is a
function list[dict] -> list[dict] applied to a fresh copy, plus the nodes whose Envoy resources
are pinned in tests/mesh/golden/<scenario>/<node>.json (istio-iptables' scenario/golden style).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "colorapp"
MESH = "default"
TELLER = "colorteller.default.svc.cluster.local"

Resources = list[dict]


def base() -> Resources:
    return yaml.safe_load((EXAMPLES / "mesh.yaml").read_text())


def find(resources: Resources, **keys) -> dict:
    """The one resource whose fields equal `keys` (e.g. routeName="colorteller-route")."""
    hits = [
        r
        for r in resources
        if all(r.get(k) == v for k, v in keys.items()) and _kind_keys(r) == _kind_keys(keys)
    ]
    assert len(hits) == 1, (keys, len(hits))
    return hits[0]


def _kind_keys(item: dict) -> frozenset:
    return frozenset(
        k
        for k in (
            "routeName",
            "virtualRouterName",
            "virtualServiceName",
            "virtualNodeName",
            "virtualGatewayName",
            "gatewayRouteName",
        )
        if k in item
    )


def node(name: str, port: int, protocol: str, hostname: str, **spec) -> dict:
    return {
        "meshName": MESH,
        "virtualNodeName": name,
        "spec": {
            "listeners": [{"portMapping": {"port": port, "protocol": protocol}}],
            "serviceDiscovery": {"dns": {"hostname": hostname}},
            **spec,
        },
    }


def route(router: str, name: str, spec: dict) -> dict:
    return {"meshName": MESH, "virtualRouterName": router, "routeName": name, "spec": spec}


def teller_route(resources: Resources) -> dict:
    return find(resources, routeName="colorteller-route", virtualRouterName="colorteller-vr")


def add_backend(resources: Resources, node_name: str, service: str) -> None:
    spec = find(resources, virtualNodeName=node_name)["spec"]
    spec.setdefault("backends", []).append({"virtualService": {"virtualServiceName": service}})


# ------------------------------------------------------------------------------- mutators
def blue_red(resources: Resources) -> Resources:
    teller_route(resources)["spec"]["httpRoute"]["action"]["weightedTargets"] = [
        {"virtualNode": "colorteller-blue-vn", "weight": 8},
        {"virtualNode": "colorteller-red-vn", "weight": 2},
    ]
    return resources


def allow_all(resources: Resources) -> Resources:
    find(resources, meshName=MESH)["spec"] = {"egressFilter": {"type": "ALLOW_ALL"}}
    return resources


def tcp_route(resources: Resources) -> Resources:
    db = "colordb.default.svc.cluster.local"
    resources += [
        node("colordb-vn", 5432, "tcp", db),
        node("colordb-replica-vn", 5432, "tcp", "colordb-replica.default.svc.cluster.local"),
        {
            "meshName": MESH,
            "virtualRouterName": "colordb-vr",
            "spec": {"listeners": [{"portMapping": {"port": 5432, "protocol": "tcp"}}]},
        },
        {
            "meshName": MESH,
            "virtualServiceName": db,
            "spec": {"provider": {"virtualRouter": {"virtualRouterName": "colordb-vr"}}},
        },
        route(
            "colordb-vr",
            "colordb-route",
            {
                "tcpRoute": {
                    "action": {
                        "weightedTargets": [
                            {"virtualNode": "colordb-vn", "weight": 3},
                            {"virtualNode": "colordb-replica-vn", "weight": 1},
                        ]
                    },
                    "timeout": {"idle": {"unit": "s", "value": 600}},
                }
            },
        ),
    ]
    add_backend(resources, "colorgateway-vn", db)
    return resources


def headers_method(resources: Resources) -> Resources:
    teller_route(resources)["spec"]["priority"] = 10
    resources.append(
        route(
            "colorteller-vr",
            "colorteller-blue-header",
            {
                "priority": 0,
                "httpRoute": {
                    "match": {
                        "prefix": "/color",
                        "method": "GET",
                        "scheme": "http",
                        "headers": [
                            {"name": "x-color", "match": {"exact": "blue"}},
                            {"name": "user-agent", "match": {"regex": "^curl/.*"}},
                            {"name": "x-canary", "match": {"range": {"start": 1, "end": 100}}},
                            {"name": "x-debug", "invert": True},
                        ],
                        "queryParameters": [{"name": "shade", "match": {"exact": "dark"}}],
                    },
                    "action": {
                        "weightedTargets": [{"virtualNode": "colorteller-blue-vn", "weight": 1}]
                    },
                },
            },
        )
    )
    resources.append(
        route(
            "colorteller-vr",
            "colorteller-red-path",
            {
                "httpRoute": {
                    "match": {"path": {"exact": "/color/red"}},
                    "action": {
                        "weightedTargets": [{"virtualNode": "colorteller-red-vn", "weight": 1}]
                    },
                }
            },
        )
    )
    return resources


def retry_timeout(resources: Resources) -> Resources:
    http_route = teller_route(resources)["spec"]["httpRoute"]
    http_route["retryPolicy"] = {
        "maxRetries": 3,
        "perRetryTimeout": {"unit": "ms", "value": 2500},
        "httpRetryEvents": ["server-error", "gateway-error", "stream-error"],
        "tcpRetryEvents": ["connection-error"],
    }
    http_route["timeout"] = {
        "perRequest": {"unit": "s", "value": 30},
        "idle": {"unit": "s", "value": 60},
    }
    find(resources, virtualNodeName="colorteller-vn")["spec"]["listeners"][0]["timeout"] = {
        "http": {"perRequest": {"unit": "s", "value": 45}}
    }
    return resources


def grpc_route(resources: Resources) -> Resources:
    svc = "colorpicker.default.svc.cluster.local"
    resources += [
        node("colorpicker-vn", 9090, "grpc", svc),
        node("colorpicker-canary-vn", 9090, "grpc", "colorpicker-canary.default.svc.cluster.local"),
        {
            "meshName": MESH,
            "virtualRouterName": "colorpicker-vr",
            "spec": {"listeners": [{"portMapping": {"port": 9090, "protocol": "grpc"}}]},
        },
        {
            "meshName": MESH,
            "virtualServiceName": svc,
            "spec": {"provider": {"virtualRouter": {"virtualRouterName": "colorpicker-vr"}}},
        },
        route(
            "colorpicker-vr",
            "pick-canary",
            {
                "priority": 1,
                "grpcRoute": {
                    "match": {
                        "serviceName": "color.Picker",
                        "methodName": "Pick",
                        "metadata": [{"name": "x-canary", "match": {"exact": "yes"}}],
                    },
                    "action": {
                        "weightedTargets": [{"virtualNode": "colorpicker-canary-vn", "weight": 1}]
                    },
                    "retryPolicy": {
                        "maxRetries": 4,
                        "perRetryTimeout": {"unit": "s", "value": 1},
                        "grpcRetryEvents": ["unavailable", "resource-exhausted"],
                    },
                    "timeout": {"perRequest": {"unit": "s", "value": 5}},
                },
            },
        ),
        route(
            "colorpicker-vr",
            "pick-all",
            {
                "priority": 2,
                "grpcRoute": {
                    "match": {"serviceName": "color.Picker"},
                    "action": {
                        "weightedTargets": [
                            {"virtualNode": "colorpicker-vn", "weight": 9},
                            {"virtualNode": "colorpicker-canary-vn", "weight": 1},
                        ]
                    },
                },
            },
        ),
    ]
    add_backend(resources, "colorgateway-vn", svc)
    return resources


def node_provider(resources: Resources) -> Resources:
    """The virtual service provided directly by a virtual node: one cluster, App Mesh defaults."""
    find(resources, virtualServiceName=TELLER)["spec"] = {
        "provider": {"virtualNode": {"virtualNodeName": "colorteller-vn"}}
    }
    return resources


def http2_endpoints(resources: Resources) -> Resources:
    """All colortellers speak http2 and are discovered as every DNS address (ENDPOINTS)."""
    for item in resources:
        if item.get("virtualNodeName", "").startswith("colorteller"):
            item["spec"]["listeners"][0]["portMapping"]["protocol"] = "http2"
            item["spec"]["serviceDiscovery"]["dns"]["responseType"] = "ENDPOINTS"
    find(resources, virtualRouterName="colorteller-vr")["spec"]["listeners"][0]["portMapping"][
        "protocol"
    ] = "http2"
    spec = teller_route(resources)["spec"]
    spec["http2Route"] = spec.pop("httpRoute")
    return resources


def multi_port(resources: Resources) -> Resources:
    """colorteller-vn and its router on two ports (http 9080, http2 9443); targets name the port."""
    find(resources, virtualNodeName="colorteller-vn")["spec"]["listeners"].append(
        {"portMapping": {"port": 9443, "protocol": "http2"}}
    )
    find(resources, virtualRouterName="colorteller-vr")["spec"]["listeners"].append(
        {"portMapping": {"port": 9443, "protocol": "http2"}}
    )
    teller_route(resources)["spec"]["httpRoute"]["action"]["weightedTargets"][0]["port"] = 9080
    resources.append(
        route(
            "colorteller-vr",
            "colorteller-h2",
            {
                "http2Route": {
                    "match": {"prefix": "/", "port": 9443},
                    "action": {
                        "weightedTargets": [
                            {"virtualNode": "colorteller-vn", "weight": 1, "port": 9443}
                        ]
                    },
                }
            },
        )
    )
    return resources


def port_match(resources: Resources) -> Resources:
    """multi_port with routes whose match is only the port (App Mesh accepted that)."""
    resources = multi_port(resources)
    teller_route(resources)["spec"]["httpRoute"]["match"] = {"port": 9080}
    h2 = find(resources, routeName="colorteller-h2", virtualRouterName="colorteller-vr")
    h2["spec"]["http2Route"]["match"] = {"port": 9443}
    return resources


def ip_preference(resources: Resources) -> Resources:
    """An IPv6 mesh: the mesh prefers IPv6, colorteller-red-vn only speaks IPv4 (its override)."""
    resources = blue_red(resources)
    find(resources, meshName=MESH)["spec"]["serviceDiscovery"] = {"ipPreference": "IPv6_PREFERRED"}
    red = find(resources, virtualNodeName="colorteller-red-vn")["spec"]["serviceDiscovery"]
    red["dns"]["ipPreference"] = "IPv4_ONLY"
    return resources


def access_log(resources: Resources) -> Resources:
    """File access logs: text (with %% and operator arguments), json, and Envoy's default format."""
    resources = tcp_route(allow_all(resources))
    logs = {
        "colorgateway-vn": {
            "path": "/dev/stdout",
            "format": {
                "text": "[%START_TIME(%s.%3f)%] %REQ(:METHOD)% %REQ(X-FORWARDED-FOR?:AUTHORITY)%"
                " 100%% %RESPONSE_CODE% %UPSTREAM_HOST% %DURATION%\n"
            },
        },
        "colorteller-vn": {
            "path": "/tmp/teller_access.log",
            "format": {
                "json": [
                    {"key": "code", "value": "%RESPONSE_CODE%"},
                    {"key": "path", "value": "%REQ_WITHOUT_QUERY(:PATH):64%"},
                    {"key": "flags", "value": "%RESPONSE_FLAGS%"},
                ]
            },
        },
        "colordb-vn": {"path": "/dev/stdout"},
    }
    for name, file in logs.items():
        find(resources, virtualNodeName=name)["spec"]["logging"] = {"accessLog": {"file": file}}
    return resources


def pool_outlier(resources: Resources) -> Resources:
    """Connection pools (http, tcp, grpc) on the servers' own clusters, outlier detection on the
    clients' clusters reaching them (blue over http, the database over tcp)."""
    resources = grpc_route(tcp_route(blue_red(resources)))
    outlier = {
        "maxServerErrors": 5,
        "maxEjectionPercent": 50,
        "interval": {"unit": "s", "value": 10},
        "baseEjectionDuration": {"unit": "s", "value": 30},
    }
    blue = _listener(resources, "colorteller-blue-vn")
    blue["connectionPool"] = {"http": {"maxConnections": 10, "maxPendingRequests": 5}}
    blue["outlierDetection"] = outlier
    db = _listener(resources, "colordb-vn")
    db["connectionPool"] = {"tcp": {"maxConnections": 100}}
    db["outlierDetection"] = {**outlier, "maxServerErrors": 2}
    _listener(resources, "colorpicker-vn")["connectionPool"] = {"grpc": {"maxRequests": 64}}
    return resources


def _health(protocol: str, **extra) -> dict:
    return {
        "protocol": protocol,
        "healthyThreshold": 2,
        "unhealthyThreshold": 3,
        "intervalMillis": 5000,
        "timeoutMillis": 2000,
        **extra,
    }


def _listener(resources: Resources, node_name: str) -> dict:
    return find(resources, virtualNodeName=node_name)["spec"]["listeners"][0]


def health_check(resources: Resources) -> Resources:
    """Listener health checks of every protocol, on each node's local application cluster."""
    resources = grpc_route(tcp_route(resources))
    _listener(resources, "colorteller-vn")["healthCheck"] = _health("http", path="/ping")
    _listener(resources, "colorteller-blue-vn")["healthCheck"] = _health(
        "http2", path="/ping", port=9080
    )
    _listener(resources, "colordb-vn")["healthCheck"] = _health("tcp")
    _listener(resources, "colorpicker-vn")["healthCheck"] = _health("grpc")
    return resources


CERTS = "/etc/proxyinit-test-certs"  # tests/mesh/test_mesh_tls.py writes real PEMs here for Envoy


def _cert(name: str) -> dict:
    return {
        "file": {"certificateChain": f"{CERTS}/{name}.pem", "privateKey": f"{CERTS}/{name}.key"}
    }


def tls(resources: Resources) -> Resources:
    """STRICT mutual TLS on the teller, PERMISSIVE on blue, an SDS certificate (not served: fails
    closed) on red; the gateway originates mutual TLS on port 9080 by its backendDefaults."""
    resources = blue_red(resources)
    trust = {"file": {"certificateChain": f"{CERTS}/ca.pem"}}
    _listener(resources, "colorteller-vn")["tls"] = {
        "mode": "STRICT",
        "certificate": _cert("teller"),
        "validation": {
            "trust": trust,
            "subjectAlternativeNames": {"match": {"exact": ["colorgateway.default.svc"]}},
        },
    }
    _listener(resources, "colorteller-blue-vn")["tls"] = {
        "mode": "PERMISSIVE",
        "certificate": _cert("teller"),
    }
    _listener(resources, "colorteller-red-vn")["tls"] = {
        "mode": "STRICT",
        "certificate": {"sds": {"secretName": "red"}},
    }
    policy = {
        "tls": {
            "ports": [9080],
            "certificate": _cert("gateway"),
            "validation": {
                "trust": trust,
                "subjectAlternativeNames": {"match": {"exact": [TELLER]}},
            },
        }
    }
    find(resources, virtualNodeName=GATEWAY)["spec"]["backendDefaults"] = {"clientPolicy": policy}
    return resources


GATEWAY, TELLER_NODE = "colorgateway-vn", "colorteller-vn"
SCENARIOS: dict[str, tuple[Callable[[Resources], Resources], tuple[str, ...]]] = {
    "colorapp": (lambda r: r, (GATEWAY, TELLER_NODE)),
    "blue_red": (blue_red, (GATEWAY,)),
    "allow_all": (allow_all, (GATEWAY,)),
    "tcp_route": (tcp_route, (GATEWAY, "colordb-vn")),
    "headers_method": (headers_method, (GATEWAY,)),
    "retry_timeout": (retry_timeout, (GATEWAY, TELLER_NODE)),
    "grpc_route": (grpc_route, (GATEWAY, "colorpicker-vn")),
    "node_provider": (node_provider, (GATEWAY,)),
    "http2_endpoints": (http2_endpoints, (GATEWAY, TELLER_NODE)),
    "multi_port": (multi_port, (GATEWAY, TELLER_NODE)),
    "port_match": (port_match, (GATEWAY,)),
    "pool_outlier": (
        pool_outlier,
        (GATEWAY, "colorteller-blue-vn", "colordb-vn", "colorpicker-vn"),
    ),
    "access_log": (access_log, (GATEWAY, TELLER_NODE, "colordb-vn")),
    "ip_preference": (ip_preference, (GATEWAY, "colorteller-blue-vn", "colorteller-red-vn")),
    "health_check": (health_check, (TELLER_NODE, "colordb-vn", "colorpicker-vn")),
    "tls": (tls, (GATEWAY, TELLER_NODE, "colorteller-blue-vn", "colorteller-red-vn")),
}


def scenario_resources(name: str) -> Resources:
    mutate, _ = SCENARIOS[name]
    return mutate(copy.deepcopy(base()))
