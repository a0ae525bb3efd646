"""Property: whatever mesh the model accepts, the real Envoy accepts its translation.

Random meshes (seeded, so failures reproduce) from the building blocks users combine: nodes with
one or two listeners of any protocol, routers, routes with random matches, weights, retries and
timeouts, node- and router-provided services, either egress filter. Meshes the model refuses are
skipped; every accepted one must pass `envoy --mode validate` for its gateway node and one other.
"""

from __future__ import annotations

import random

import pytest

from proxyinit.contract import NodeId
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.node import translate_node
from tests.mesh.mesh_envoy_check import envoy_validate

pytestmark = pytest.mark.envoy

MESH = "rand"
PORTS = (8080, 9080, 9090, 5432)
PROTOCOLS = ("http", "http2", "grpc", "tcp")
ROUTE_KEY = {"http": "httpRoute", "http2": "http2Route", "grpc": "grpcRoute", "tcp": "tcpRoute"}


def _node(rng: random.Random, index: int) -> dict:
    ports = rng.sample(PORTS, rng.choice((1, 1, 2)))
    listeners = [{"portMapping": {"port": p, "protocol": rng.choice(PROTOCOLS)}} for p in ports]
    return {
        "meshName": MESH,
        "virtualNodeName": f"n{index}",
        "spec": {
            "listeners": listeners,
            "serviceDiscovery": {"dns": {"hostname": f"n{index}.rand.local"}},
        },
    }


def _match(rng: random.Random, protocol: str) -> dict:
    if protocol == "grpc":
        match = {"serviceName": "pkg.Svc"} if rng.random() < 0.6 else {}
        if match and rng.random() < 0.5:
            match["methodName"] = "Call"
        if rng.random() < 0.4:
            match["metadata"] = [{"name": "x-md", "match": {"prefix": "a"}}]
        return match
    match = rng.choice(
        [
            {"prefix": "/"},
            {"prefix": "/api"},
            {"path": {"exact": "/x"}},
            {"path": {"regex": "/v[0-9]+/.*"}},
        ]
    )
    if rng.random() < 0.4:
        match["headers"] = [
            {
                "name": "x-h",
                "invert": rng.random() < 0.3,
                "match": rng.choice(
                    [
                        {"exact": "1"},
                        {"suffix": "z"},
                        {"range": {"start": 1, "end": 9}},
                        {"regex": "^a.*"},
                    ]
                ),
            }
        ]
    if rng.random() < 0.3:
        match["method"] = rng.choice(("GET", "POST"))
    return match


def _route(
    rng: random.Random, router: str, name: str, protocol: str, nodes: list[dict]
) -> dict | None:
    candidates = [
        (n, listener["portMapping"]["port"])
        for n in nodes
        for listener in n["spec"]["listeners"]
        if listener["portMapping"]["protocol"] == protocol
    ]
    if not candidates:
        return None
    picked = rng.sample(candidates, min(len(candidates), rng.choice((1, 2, 3))))
    targets = [
        {
            "virtualNode": n["virtualNodeName"],
            "port": port,
            "weight": rng.randint(1 if protocol == "tcp" else 0, 40),
        }
        for n, port in picked
    ]
    body: dict = {"action": {"weightedTargets": targets}}
    if protocol != "tcp":
        body["match"] = _match(rng, protocol)
        if rng.random() < 0.4:
            events = (
                {"grpcRetryEvents": ["unavailable"]}
                if protocol == "grpc"
                else {"httpRetryEvents": ["server-error"]}
            )
            body["retryPolicy"] = {
                "maxRetries": rng.randint(0, 5),
                "perRetryTimeout": {"unit": "ms", "value": 500},
                **events,
            }
        if rng.random() < 0.4:
            body["timeout"] = {"perRequest": {"unit": "s", "value": rng.randint(0, 60)}}
    elif rng.random() < 0.5:
        body["timeout"] = {"idle": {"unit": "s", "value": 30}}
    spec = {ROUTE_KEY[protocol]: body}
    if rng.random() < 0.5:
        spec["priority"] = rng.randint(0, 1000)
    return {"meshName": MESH, "virtualRouterName": router, "routeName": name, "spec": spec}


def random_mesh(seed: int) -> list[dict]:
    rng = random.Random(seed)
    nodes = [_node(rng, i) for i in range(rng.randint(2, 5))]
    out: list[dict] = [
        {
            "meshName": MESH,
            "spec": {"egressFilter": {"type": rng.choice(("ALLOW_ALL", "DROP_ALL"))}},
        },
        *nodes,
    ]
    services = []
    for r in range(rng.randint(1, 2)):
        protocol, port = rng.choice(PROTOCOLS), rng.choice(PORTS)
        out.append(
            {
                "meshName": MESH,
                "virtualRouterName": f"r{r}",
                "spec": {"listeners": [{"portMapping": {"port": port, "protocol": protocol}}]},
            }
        )
        out += [
            x
            for x in (
                _route(rng, f"r{r}", f"route{r}-{i}", protocol, nodes)
                for i in range(rng.randint(0, 3 if protocol != "tcp" else 1))
            )
            if x
        ]
        services.append(
            {
                "meshName": MESH,
                "virtualServiceName": f"svc-r{r}.rand.local",
                "spec": {"provider": {"virtualRouter": {"virtualRouterName": f"r{r}"}}},
            }
        )
    services.append(
        {
            "meshName": MESH,
            "virtualServiceName": "svc-n1.rand.local",
            "spec": {"provider": {"virtualNode": {"virtualNodeName": "n1"}}},
        }
    )
    out += services
    gateway = {
        "meshName": MESH,
        "virtualNodeName": "gateway",
        "spec": {
            "backends": [
                {"virtualService": {"virtualServiceName": s["virtualServiceName"]}}
                for s in services
                if rng.random() < 0.8
            ]
        },
    }
    return out + [gateway]


def test_random_accepted_meshes_are_accepted_by_envoy(tmp_path):
    accepted = 0
    for seed in range(80):
        try:
            model = parse_resources(random_mesh(seed))[MESH]
        except ConfigError:
            continue
        accepted += 1
        for node in ("gateway", "n0"):  # egress to everything; ingress of 1-2 random listeners
            workdir = tmp_path / f"{seed}-{node}"
            workdir.mkdir()
            result = envoy_validate(translate_node(model, NodeId(MESH, node)), workdir)
            output = result.stdout + result.stderr
            assert result.returncode == 0, f"seed {seed} node {node}: {output[-2000:]}"
            assert "deprecated" not in output.lower(), f"seed {seed} node {node}"
    assert accepted >= 40, (
        f"only {accepted} of 80 random meshes were valid: the generator needs work"
    )
