"""Virtual gateway scenarios (issue 9) on top of the colorapp mesh: App Mesh's ingress walkthrough
(a gateway in front of colorteller), explicit rewrites and matches, http2/grpc listeners with
policies. Pinned per gateway in tests/mesh/golden/<scenario>/<gateway>.json, validated by Envoy."""

from __future__ import annotations

import copy
from collections.abc import Callable

from tests.mesh.mesh_scenarios import CERTS, MESH, TELLER, Resources, base, node

GATEWAY = "ingress-gw"
HEALTH = {
    "healthyThreshold": 2,
    "unhealthyThreshold": 2,
    "intervalMillis": 5000,
    "timeoutMillis": 2000,
}


def gateway(*listeners: dict, **spec) -> dict:
    return {
        "meshName": MESH,
        "virtualGatewayName": GATEWAY,
        "spec": {"listeners": list(listeners), **spec},
    }


def listener(port: int, protocol: str, **extra) -> dict:
    return {"portMapping": {"port": port, "protocol": protocol}, **extra}


def gateway_route(name: str, spec: dict) -> dict:
    return {"meshName": MESH, "virtualGatewayName": GATEWAY, "gatewayRouteName": name, "spec": spec}


def target(service: str = TELLER, port: int | None = None, **extra) -> dict:
    """A gateway route action: its target (+ port), and `extra` (a rewrite)."""
    out = {"virtualService": {"virtualServiceName": service}}
    return {"target": {**out, **({"port": port} if port else {})}, **extra}


def ingress(resources: Resources) -> Resources:
    """The walkthrough's ingress: /color on the gateway -> colorteller (router-provided), defaults."""
    resources += [
        gateway(listener(8080, "http")),
        gateway_route("color", {"httpRoute": {"match": {"prefix": "/color"}, "action": target()}}),
    ]
    return resources


def rewrites(resources: Resources) -> Resources:
    """Every match and rewrite of an http gateway route, to a node-provided service, by priority."""
    resources += [
        node("echo-vn", 9090, "http", "echo.default.svc.cluster.local"),
        {
            "meshName": MESH,
            "virtualServiceName": "echo.default.svc.cluster.local",
            "spec": {"provider": {"virtualNode": {"virtualNodeName": "echo-vn"}}},
        },
        gateway(listener(8080, "http")),
    ]
    echo = "echo.default.svc.cluster.local"
    routes = {
        "catch-all": {"httpRoute": {"match": {"prefix": "/"}, "action": target(echo)}},
        "keep-prefix": {
            "priority": 5,
            "httpRoute": {
                "match": {"prefix": "/keep/", "hostname": {"suffix": ".example.com"}},
                "action": target(
                    echo,
                    rewrite={
                        "prefix": {"defaultPrefix": "DISABLED"},
                        "hostname": {"defaultTargetHostname": "DISABLED"},
                    },
                ),
            },
        },
        "new-prefix": {
            "priority": 5,
            "httpRoute": {
                "match": {
                    "prefix": "/v1/",
                    "hostname": {"exact": "api.example.com"},
                    "method": "POST",
                    "headers": [{"name": "x-tenant", "match": {"prefix": "a"}}],
                    "queryParameters": [{"name": "debug"}],
                },
                "action": target(echo, rewrite={"prefix": {"value": "/v2/"}}),
            },
        },
        "old-path": {
            "priority": 1,
            "httpRoute": {
                "match": {"path": {"exact": "/old"}},
                "action": target(echo, rewrite={"path": {"exact": "/new"}}),
            },
        },
    }
    resources += [gateway_route(name, spec) for name, spec in routes.items()]
    return resources


def protocols(resources: Resources) -> Resources:
    """http2 and grpc listeners with health checks, connection pools and a JSON access log; gRPC
    and http2 gateway routes matching on the port; the IPv6 mesh binds [::] too."""
    resources[0].setdefault("spec", {})["serviceDiscovery"] = {"ipPreference": "IPv4_PREFERRED"}
    resources += [
        node("picker-vn", 9443, "grpc", "picker.default.svc.cluster.local"),
        {
            "meshName": MESH,
            "virtualServiceName": "picker.default.svc.cluster.local",
            "spec": {"provider": {"virtualNode": {"virtualNodeName": "picker-vn"}}},
        },
        gateway(
            listener(
                8443,
                "grpc",
                healthCheck={**HEALTH, "protocol": "grpc"},
                connectionPool={"grpc": {"maxRequests": 64}},
            ),
            listener(
                8080,
                "http2",
                healthCheck={**HEALTH, "protocol": "http2", "path": "/ping"},
                connectionPool={"http2": {"maxRequests": 32}},
            ),
            logging={
                "accessLog": {
                    "file": {
                        "path": "/dev/stdout",
                        "format": {"json": [{"key": "p", "value": "%REQ(:PATH)%"}]},
                    }
                }
            },
        ),
        gateway_route(
            "pick",
            {
                "grpcRoute": {
                    "match": {
                        "serviceName": "color.Picker",
                        "port": 8443,
                        "metadata": [{"name": "x-user", "match": {"exact": "me"}}],
                    },
                    "action": target(
                        "picker.default.svc.cluster.local",
                        rewrite={"hostname": {"defaultTargetHostname": "DISABLED"}},
                    ),
                }
            },
        ),
        gateway_route(
            "color2",
            {"http2Route": {"match": {"port": 8080}, "action": target(port=9080)}},
        ),
    ]
    return resources


def tls(resources: Resources) -> Resources:
    """Listener TLS on a gateway: PERMISSIVE with mutual TLS on 8080, STRICT with an ACM
    certificate that is not served (fails closed) on 8443; backendDefaults originate mutual TLS,
    through listener-own cluster copies on 8080 (its health check)."""
    trust = {"file": {"certificateChain": f"{CERTS}/ca.pem"}}
    certificate = {
        "file": {"certificateChain": f"{CERTS}/gateway.pem", "privateKey": f"{CERTS}/gateway.key"}
    }
    permissive = {
        "mode": "PERMISSIVE",
        "certificate": certificate,
        "validation": {
            "trust": trust,
            "subjectAlternativeNames": {"match": {"exact": ["client.example.com"]}},
        },
    }
    arn = "arn:aws:acm:us-west-2:111122223333:certificate/not-served"
    strict = {"mode": "STRICT", "certificate": {"acm": {"certificateArn": arn}}}
    policy = {"tls": {"certificate": certificate, "validation": {"trust": trust}}}
    resources += [
        gateway(
            listener(
                8080,
                "http",
                tls=permissive,
                healthCheck={**HEALTH, "protocol": "http", "path": "/"},
            ),
            listener(8443, "http", tls=strict),
            backendDefaults={"clientPolicy": policy},
        ),
        gateway_route("color", {"httpRoute": {"match": {"prefix": "/color"}, "action": target()}}),
    ]
    return resources


GATEWAY_SCENARIOS: dict[str, Callable[[Resources], Resources]] = {
    "gateway_ingress": ingress,
    "gateway_rewrites": rewrites,
    "gateway_protocols": protocols,
    "gateway_tls": tls,
}


def gateway_resources(name: str) -> Resources:
    return GATEWAY_SCENARIOS[name](copy.deepcopy(base()))
