#!/usr/bin/env python3
"""Translation of a 1,000-node mesh that uses every feature, and the cost of one change.

The mesh (`feature_mesh`): nodes of every protocol with healthCheck, connectionPool,
outlierDetection, listener timeouts, a JSON access log and DNS or AWS Cloud Map discovery (every
third node, 3 instances each), a mesh ipPreference; each node has 3 backends, half of the services
node-provided, half router-provided (routes with header/gRPC matches, retries, timeouts and two
weighted targets); one virtual gateway with 25 gateway routes. Measured, median of --runs:
validate (parse + build), translate every node and gateway into snapshots (publisher.prepare),
then one route weight change and one Cloud Map answer change: re-translate + publish, and how many
nodes' config changed. No network, no Envoy.

    .venv/bin/python -m bench.translate [--nodes 1000] [--runs 3] [--before-issue-9]

--before-issue-9: the same mesh without what issue 9 added (healthCheck, connectionPool,
outlierDetection, access log, ipPreference, Cloud Map: all nodes DNS, the gateway), so that the
tree before issue 9 (git worktree of d892259, `PYTHONPATH=<it>`) translates it too: the README's
before/after rows run this mode on both trees. There is no Cloud Map change then.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

MESH = "bench"
PROTOCOLS = ("http", "http2", "grpc", "tcp")
# A port per protocol: a node's backends may not share an egress port with a tcp one.
PORTS = {"http": 8080, "http2": 8081, "grpc": 8082, "tcp": 8083}
DURATION = {"unit": "s", "value": 15}


# Issue 9's node listener fields and the mesh/node fields --before-issue-9 leaves out.
ISSUE_9_LISTENER = ("healthCheck", "connectionPool", "outlierDetection")


def before_issue_9(resources: list[dict]) -> list[dict]:
    """`resources` without issue 9's features (see the module docstring)."""
    out = []
    for item in resources:
        if "virtualGatewayName" in item:
            continue
        spec = item.get("spec", {})
        if set(item) == {"meshName", "spec"}:  # the mesh: no ipPreference
            spec.pop("serviceDiscovery", None)
        if "virtualNodeName" in item and "virtualRouterName" not in item:
            spec.pop("logging", None)
            hostname = f"{item['virtualNodeName']}.{MESH}.local"
            spec["serviceDiscovery"] = {"dns": {"hostname": hostname}}
            for listener in spec["listeners"]:
                for key in ISSUE_9_LISTENER:
                    listener.pop(key, None)
        out.append(item)
    return out


def _listener(protocol: str) -> dict:
    check = {
        "protocol": protocol,
        "healthyThreshold": 2,
        "unhealthyThreshold": 3,
        "intervalMillis": 5000,
        "timeoutMillis": 2000,
        **({"path": "/ping"} if protocol in ("http", "http2") else {}),
    }
    pool = {
        "http": {"maxConnections": 100, "maxPendingRequests": 50},
        "http2": {"maxRequests": 100},
        "grpc": {"maxRequests": 100},
        "tcp": {"maxConnections": 100},
    }[protocol]
    timeout = {"idle": DURATION} if protocol == "tcp" else {"perRequest": DURATION}
    return {
        "portMapping": {"port": PORTS[protocol], "protocol": protocol},
        "healthCheck": check,
        "connectionPool": {protocol: pool},
        "outlierDetection": {
            "maxServerErrors": 5,
            "interval": {"unit": "s", "value": 10},
            "baseEjectionDuration": {"unit": "s", "value": 30},
            "maxEjectionPercent": 50,
        },
        "timeout": {protocol: timeout},
    }


def _discovery(i: int) -> dict:
    if i % 3 == 0:
        attributes = [{"key": "stage", "value": "prod"}]
        return {
            "awsCloudMap": {
                "namespaceName": f"{MESH}.local",
                "serviceName": f"n{i}",
                "attributes": attributes,
            }
        }
    return {"dns": {"hostname": f"n{i}.{MESH}.local"}}


def _backends(i: int, n: int, count: int) -> list[str]:
    """The services s(i+1), s(i+2), ...; past 3 the tcp ones are skipped: a tcp backend needs an
    egress port of its own, and 4 protocols cannot give 5 backends one each."""
    offsets = (1, 2, 3) if count <= 3 else [k for k in range(1, 3 * count) if (i + k) % 4 != 3]
    return [f"s{(i + k) % n}.{MESH}.local" for k in offsets[:count]]


def _node(i: int, n: int, backends_per_node: int = 3) -> dict:
    backends = _backends(i, n, backends_per_node)
    log = {
        "file": {
            "path": "/dev/stdout",
            "format": {"json": [{"key": "code", "value": "%RESPONSE_CODE%"}]},
        }
    }
    return {
        "meshName": MESH,
        "virtualNodeName": f"n{i}",
        "spec": {
            "listeners": [_listener(PROTOCOLS[i % 4])],
            "serviceDiscovery": _discovery(i),
            "backends": [{"virtualService": {"virtualServiceName": b}} for b in backends],
            "logging": {"accessLog": log},
        },
    }


def _route_spec(j: int, n: int, weight: int) -> dict:
    protocol = PROTOCOLS[j % 4]
    # Same protocol: j and j+4 are the same protocol (n is a multiple of 4).
    action = {
        "weightedTargets": [
            {"virtualNode": f"n{j}", "weight": weight},
            {"virtualNode": f"n{(j + 4) % n}", "weight": 1},
        ]
    }
    if protocol == "tcp":
        return {"tcpRoute": {"action": action, "timeout": {"idle": DURATION}}}
    retry = {"maxRetries": 2, "perRetryTimeout": {"unit": "ms", "value": 500}}
    if protocol == "grpc":
        match = {"serviceName": "bench.Color", "methodName": "Get"}
        retry["grpcRetryEvents"] = ["unavailable"]
    else:
        match = {"prefix": "/", "headers": [{"name": "x-canary", "match": {"exact": "1"}}]}
        retry["httpRetryEvents"] = ["server-error"]
    body = {
        "match": match,
        "action": action,
        "retryPolicy": retry,
        "timeout": {"perRequest": DURATION},
    }
    return (
        {"priority": 1, f"{protocol}Route": body}
        if protocol != "http2"
        else {"priority": 1, "http2Route": body}
    )


def _service(j: int, n: int, weight: int) -> list[dict]:
    name = f"s{j}.{MESH}.local"
    if j % 2 == 0:
        provider = {"virtualNode": {"virtualNodeName": f"n{j}"}}
        return [{"meshName": MESH, "virtualServiceName": name, "spec": {"provider": provider}}]
    protocol = PROTOCOLS[j % 4]
    listener = {"portMapping": {"port": PORTS[protocol], "protocol": protocol}}
    return [
        {"meshName": MESH, "virtualRouterName": f"r{j}", "spec": {"listeners": [listener]}},
        {
            "meshName": MESH,
            "virtualRouterName": f"r{j}",
            "routeName": f"r{j}-route",
            "spec": _route_spec(j, n, weight),
        },
        {
            "meshName": MESH,
            "virtualServiceName": name,
            "spec": {"provider": {"virtualRouter": {"virtualRouterName": f"r{j}"}}},
        },
    ]


def _gateway(routes: int) -> list[dict]:
    listener = {"portMapping": {"port": 80, "protocol": "http"}}
    out = [{"meshName": MESH, "virtualGatewayName": "gw", "spec": {"listeners": [listener]}}]
    for k in range(routes):
        target = {"virtualService": {"virtualServiceName": f"s{4 * k}.{MESH}.local"}}
        spec = {"httpRoute": {"match": {"prefix": f"/g{k}"}, "action": {"target": target}}}
        out.append(
            {
                "meshName": MESH,
                "virtualGatewayName": "gw",
                "gatewayRouteName": f"g{k}",
                "spec": spec,
            }
        )
    return out


def feature_mesh(n: int, weight: int = 1, backends: int = 3, before: bool = False) -> list[dict]:
    """The resources (create-* shapes) of the benchmark mesh; `weight` moves route r1's weight;
    `before`: without issue 9's features."""
    if before:
        return before_issue_9(feature_mesh(n, weight, backends))
    if n % 4:
        raise SystemExit(f"--nodes={n}: expected a multiple of 4")
    mesh = {
        "meshName": MESH,
        "spec": {
            "egressFilter": {"type": "DROP_ALL"},
            "serviceDiscovery": {"ipPreference": "IPv4_PREFERRED"},
        },
    }
    out = [mesh] + [_node(i, n, backends) for i in range(n)]
    for j in range(n):
        out += _service(j, n, weight if j == 1 else 1)
    return out + _gateway(min(25, n // 4))


def instances(service: str, changed: str | None = None) -> tuple:
    """Cloud Map's answer for node `service` (n<i>): three instances; `changed` gets a fourth."""
    from proxyinit.mesh.model.cloudmap import CloudMapInstance

    count = 4 if service == changed else 3
    base = int(service[1:])
    return tuple(
        CloudMapInstance(f"i-{k}", ipv4=f"198.18.{base // 250}.{(base % 250) + k}")
        for k in range(count)
    )


def _discovered(model, changed: str | None = None):
    """`instances` for every Cloud Map query of `model` (MeshModel.discovered)."""
    if not hasattr(model, "cloud_map_queries"):  # the tree before issue 9
        return model
    found = {query: instances(query.service, changed) for query in model.cloud_map_queries()}
    return dataclasses.replace(model, discovered=found)


def _counting(calls: list):
    from proxyinit.mesh.translate.node import translate_node

    def translate(model, node, **options):
        calls.append(node)
        return translate_node(model, node, **options)

    return translate


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def one_run(n: int, backends: int = 3, before: bool = False) -> dict:
    from proxyinit.controlplane.publisher import SnapshotPublisher
    from proxyinit.mesh.model.meshfile import parse_resources
    from proxyinit.xds.cache import SnapshotCache

    resources = feature_mesh(n, backends=backends, before=before)
    changed_resources = feature_mesh(n, weight=5, backends=backends, before=before)
    started = time.perf_counter()
    model = _discovered(parse_resources(resources)[MESH])
    validate = _ms(started)
    translated = []  # the translator seam: which nodes each change translates again
    publisher = SnapshotPublisher(SnapshotCache(), _counting(translated))
    started = time.perf_counter()
    prepared = publisher.prepare({MESH: model})
    translate = _ms(started)
    publisher.publish(prepared)
    snapshots = len(prepared[MESH])
    route_model = _discovered(parse_resources(changed_resources)[MESH])
    translated.clear()
    started = time.perf_counter()
    route_changed = len(publisher.publish(publisher.prepare({MESH: route_model})))
    route_change = _ms(started)
    route_translated = len(translated)
    cloud_change = cloud_changed = float("nan")
    if not before:
        cloud_model = _discovered(route_model, changed="n0")
        started = time.perf_counter()
        cloud_changed = len(publisher.publish(publisher.prepare({MESH: cloud_model})))
        cloud_change = _ms(started)
    return {
        "validate": validate,
        "translate": translate,
        "snapshots": snapshots,
        "route_change": route_change,
        "route_changed": route_changed,
        "route_translated": route_translated,
        "cloud_change": cloud_change,
        "cloud_changed": cloud_changed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", type=int, default=3, help="per node (the issue's case: 5)")
    parser.add_argument("--before-issue-9", action="store_true", help="see the module docstring")
    args = parser.parse_args()
    runs = [one_run(args.nodes, args.backends, args.before_issue_9) for _ in range(args.runs)]
    first = runs[0]
    print(
        f"{args.nodes} nodes x {args.backends} backends, {first['snapshots']} snapshots "
        f"(nodes + gateway), {args.runs} runs"
    )
    print(f"{'measure':<58}{'median ms':>12}{'min':>10}{'max':>10}")
    rows = (
        ("validate (parse + build_mesh)", "validate"),
        ("translate every node and gateway (publisher.prepare)", "translate"),
        (
            f"route weight change: re-translate + publish ({first['route_translated']} "
            f"translated, {first['route_changed']} changed)",
            "route_change",
        ),
        (f"Cloud Map answer change: same ({first['cloud_changed']} changed)", "cloud_change"),
    )
    for label, key in rows[:3] if args.before_issue_9 else rows:
        values = [run[key] for run in runs]
        print(
            f"{label:<58}{statistics.median(values):>12.0f}{min(values):>10.0f}{max(values):>10.0f}"
        )


if __name__ == "__main__":
    main()
