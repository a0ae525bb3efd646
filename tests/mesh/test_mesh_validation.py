"""Bad models are refused with a message naming the resource, the field and the value.

Each case mutates the colorapp base (examples/colorapp/mesh.yaml) into one bad model and lists
the substrings the ConfigError message must contain: `<Kind> '<name>'`, the field path, the value.
"""

from __future__ import annotations

import copy

import pytest

from proxyinit.errors import ConfigError
from proxyinit.mesh.model.meshfile import parse_resources
from tests.mesh.mesh_scenarios import MESH, TELLER, base, find, node, route, teller_route

GW = "VirtualNode 'colorgateway-vn'"
ROUTE = "Route 'colorteller-route'"
TARGETS = "spec.httpRoute.action.weightedTargets"


def _gw(r):
    return find(r, virtualNodeName="colorgateway-vn")["spec"]


def _teller(r):
    return find(r, virtualNodeName="colorteller-vn")["spec"]


def _http(r):
    return teller_route(r)["spec"]["httpRoute"]


def _targets(r):
    return _http(r)["action"]["weightedTargets"]


def _router(r):
    return find(r, virtualRouterName="colorteller-vr")["spec"]


def _set(getter, key, value):
    def mutate(r):
        getter(r)[key] = value

    return mutate


def _append(item):
    return lambda r: r.append(item)


# (id, mutator, substrings of the message)
CASES = [
    (
        "port-too-big",
        lambda r: _gw(r)["listeners"][0]["portMapping"].update(port=70000),
        [GW, "spec.listeners[0].portMapping.port", "70000"],
    ),
    (
        "bad-protocol",
        lambda r: _gw(r)["listeners"][0]["portMapping"].update(protocol="udp"),
        [GW, "spec.listeners[0].portMapping.protocol", "'udp'"],
    ),
    (
        "proxy-port-listener",
        lambda r: _gw(r)["listeners"][0]["portMapping"].update(port=15001),
        [GW, "spec.listeners[0].portMapping.port", "15001", "proxy"],
    ),
    (
        "duplicate-listener-port",
        lambda r: _gw(r)["listeners"].append({"portMapping": {"port": 9080, "protocol": "http"}}),
        [GW, "spec.listeners[1].portMapping.port", "9080"],
    ),
    (
        "listener-without-discovery",
        lambda r: _gw(r).pop("serviceDiscovery"),
        [GW, "spec", "serviceDiscovery is required"],
    ),
    (
        "duplicate-backend",
        lambda r: _gw(r)["backends"].append({"virtualService": {"virtualServiceName": TELLER}}),
        [GW, "spec.backends[1].virtualService.virtualServiceName", "listed twice", TELLER],
    ),
    (
        "backend-case-duplicate",
        lambda r: _gw(r)["backends"].append(
            {"virtualService": {"virtualServiceName": TELLER.upper()}}
        ),
        [GW, "spec.backends[1].virtualService.virtualServiceName", "only in case", TELLER.upper()],
    ),
    (
        "unsupported-field",
        lambda r: _gw(r).update(backendDefault={"clientPolicy": {}}),  # a typo of a real field
        [GW, "spec.backendDefault", "unknown or unsupported field"],
    ),
    (
        "cloudmap-and-dns-discovery",
        lambda r: _gw(r)["serviceDiscovery"].update(
            awsCloudMap={"namespaceName": "x", "serviceName": "y"}
        ),
        [GW, "spec.serviceDiscovery", "give exactly one of"],
    ),
    (
        "bad-hostname",
        lambda r: _gw(r)["serviceDiscovery"]["dns"].update(hostname="bad host"),
        [GW, "spec.serviceDiscovery.dns.hostname", "'bad host'"],
    ),
    (
        "duplicate-node",
        lambda r: r.append(copy.deepcopy(find(r, virtualNodeName="colorteller-vn"))),
        ["VirtualNode 'colorteller-vn'", "virtualNodeName", "declared twice"],
    ),
    (
        "unknown-provider-router",
        lambda r: find(r, virtualServiceName=TELLER)["spec"]["provider"]["virtualRouter"].update(
            virtualRouterName="ghost-vr"
        ),
        [
            f"VirtualService '{TELLER}'",
            "spec.provider.virtualRouter.virtualRouterName",
            "'ghost-vr'",
        ],
    ),
    (
        "two-providers",
        lambda r: find(r, virtualServiceName=TELLER)["spec"]["provider"].update(
            virtualNode={"virtualNodeName": "colorteller-vn"}
        ),
        [f"VirtualService '{TELLER}'", "spec.provider", "exactly one"],
    ),
    (
        "unknown-route-target",
        lambda r: _targets(r)[0].update(virtualNode="ghost-vn"),
        [ROUTE, f"{TARGETS}[0].virtualNode", "'ghost-vn'"],
    ),
    (
        "unknown-router",
        lambda r: teller_route(r).update(virtualRouterName="ghost-vr"),
        [ROUTE, "virtualRouterName", "'ghost-vr'"],
    ),
    (
        "weight-over-100",
        lambda r: _targets(r)[0].update(weight=101),
        [ROUTE, f"{TARGETS}[0].weight", "101"],
    ),
    (
        "total-weight-over-100",
        lambda r: _targets(r).append({"virtualNode": "colorteller-blue-vn", "weight": 100}),
        [ROUTE, "spec.httpRoute.action", "total weight 101"],
    ),
    (
        "weights-sum-zero",
        lambda r: _targets(r)[0].update(weight=0),
        [ROUTE, f"{TARGETS}", "sum to 0", "[0]"],
    ),
    (
        "no-targets",
        lambda r: _http(r)["action"].update(weightedTargets=[]),
        [ROUTE, "spec.httpRoute.action.weightedTargets", "at least 1"],
    ),
    (
        "eleven-targets",
        lambda r: _http(r)["action"].update(
            weightedTargets=[{"virtualNode": "colorteller-vn", "weight": 1}] * 11
        ),
        [ROUTE, "spec.httpRoute.action.weightedTargets", "at most 10"],
    ),
    (
        "duplicate-target",
        lambda r: _targets(r).append({"virtualNode": "colorteller-vn", "weight": 1}),
        [ROUTE, f"{TARGETS}[1].virtualNode", "twice", "'colorteller-vn'"],
    ),
    (
        "target-port-unknown",
        lambda r: _targets(r)[0].update(port=8080),
        [ROUTE, f"{TARGETS}[0].port", "8080", "no listener"],
    ),
    (
        "target-protocol-mismatch",
        lambda r: _teller(r)["listeners"][0]["portMapping"].update(protocol="http2"),
        [ROUTE, f"{TARGETS}[0].virtualNode", "'http2'", "'colorteller-vn'"],
    ),
    (
        "route-protocol-vs-router",
        lambda r: _router(r)["listeners"][0]["portMapping"].update(protocol="grpc"),
        [ROUTE, "spec.httpRoute", "no listener of virtual router 'colorteller-vr'", "'http'"],
    ),
    (
        "route-port-vs-router",
        lambda r: _http(r)["match"].update(port=8080),
        [ROUTE, "spec.httpRoute.match.port", "8080"],
    ),
    (
        "priority-out-of-range",
        _set(lambda r: teller_route(r)["spec"], "priority", 1001),
        [ROUTE, "spec.priority", "1001"],
    ),
    (
        "two-route-kinds",
        lambda r: teller_route(r)["spec"].update(
            tcpRoute={
                "action": {"weightedTargets": [{"virtualNode": "colorteller-vn", "weight": 1}]}
            }
        ),
        [ROUTE, "spec", "exactly one"],
    ),
    (
        "prefix-without-slash",
        lambda r: _http(r)["match"].update(prefix="color"),
        [ROUTE, "spec.httpRoute.match", "'color'", "start with '/'"],
    ),
    (
        "prefix-and-path",
        lambda r: _http(r)["match"].update(path={"exact": "/color"}),
        [ROUTE, "spec.httpRoute.match", "at most one"],
    ),
    (
        "bad-regex",
        lambda r: (
            _http(r)["match"].update(prefix=None, path={"regex": "(unclosed"})
            or _http(r)["match"].pop("prefix")
        ),
        [ROUTE, "spec.httpRoute.match.path.regex", "'(unclosed'"],
    ),
    (
        "re2-lookahead",
        lambda r: _http(r)["match"].update(headers=[{"name": "x-a", "match": {"regex": "(?=a)a"}}]),
        [ROUTE, "spec.httpRoute.match.headers[0].match.regex", "'(?=a)a'", "RE2"],
    ),
    (
        "re2-end-of-text-escape",
        lambda r: _http(r)["match"].update(headers=[{"name": "x-a", "match": {"regex": "a\\Z"}}]),
        [ROUTE, "spec.httpRoute.match.headers[0].match.regex", "RE2", "escape"],
    ),
    (
        "re2-atomic-group",
        lambda r: _http(r)["match"].update(headers=[{"name": "x-a", "match": {"regex": "(?>a)"}}]),
        [ROUTE, "spec.httpRoute.match.headers[0].match.regex", "'(?>a)'", "RE2"],
    ),
    (
        "re2-possessive",
        lambda r: _http(r)["match"].update(headers=[{"name": "x-a", "match": {"regex": "a*+"}}]),
        [ROUTE, "spec.httpRoute.match.headers[0].match.regex", "'a*+'", "RE2"],
    ),
    (
        "re2-program-too-big",
        lambda r: _http(r)["match"].update(
            headers=[{"name": "x-a", "match": {"regex": "a{1000}"}}]
        ),
        [ROUTE, "spec.httpRoute.match.headers[0].match.regex", "'a{1000}'", "program size 1004"],
    ),
    (
        "bad-method",
        lambda r: _http(r)["match"].update(method="FETCH"),
        [ROUTE, "spec.httpRoute.match.method", "'FETCH'"],
    ),
    (
        "header-two-methods",
        lambda r: _http(r)["match"].update(
            headers=[{"name": "x-a", "match": {"exact": "1", "prefix": "2"}}]
        ),
        [ROUTE, "spec.httpRoute.match.headers[0].match", "exactly one"],
    ),
    (
        "bad-header-name",
        lambda r: _http(r)["match"].update(headers=[{"name": "x a"}]),
        [ROUTE, "spec.httpRoute.match.headers[0].name", "'x a'"],
    ),
    (
        "empty-range",
        lambda r: _http(r)["match"].update(
            headers=[{"name": "x-a", "match": {"range": {"start": 5, "end": 5}}}]
        ),
        [ROUTE, "spec.httpRoute.match.headers[0].match.range", "end 5"],
    ),
    (
        "retry-without-events",
        lambda r: _http(r).update(
            retryPolicy={"maxRetries": 1, "perRetryTimeout": {"unit": "s", "value": 1}}
        ),
        [ROUTE, "spec.httpRoute.retryPolicy", "at least one"],
    ),
    (
        "bad-retry-event",
        lambda r: _http(r).update(
            retryPolicy={
                "maxRetries": 1,
                "perRetryTimeout": {"unit": "s", "value": 1},
                "httpRetryEvents": ["5xx"],
            }
        ),
        [ROUTE, "spec.httpRoute.retryPolicy.httpRetryEvents[0]", "'5xx'"],
    ),
    (
        "bad-duration-unit",
        lambda r: _http(r).update(timeout={"perRequest": {"unit": "m", "value": 1}}),
        [ROUTE, "spec.httpRoute.timeout.perRequest.unit", "'m'"],
    ),
    (
        "negative-duration",
        lambda r: _http(r).update(timeout={"perRequest": {"unit": "s", "value": -1}}),
        [ROUTE, "spec.httpRoute.timeout.perRequest.value", "-1"],
    ),
    (
        "duration-too-long",
        lambda r: _http(r).update(timeout={"perRequest": {"unit": "s", "value": 10**13}}),
        [ROUTE, "spec.httpRoute.timeout.perRequest", "10000000000000"],
    ),
    (
        "target-port-needed",
        lambda r: _teller(r)["listeners"].append(
            {"portMapping": {"port": 9443, "protocol": "http"}}
        ),
        [ROUTE, f"{TARGETS}[0].virtualNode", "2 listeners", "weightedTargets[].port"],
    ),
    (
        "listener-timeout-protocol",
        lambda r: _teller(r)["listeners"][0].update(
            timeout={"tcp": {"idle": {"unit": "s", "value": 1}}}
        ),
        ["VirtualNode 'colorteller-vn'", "spec.listeners[0]", "timeout.http"],
    ),
    (
        "egress-filter-type",
        lambda r: find(r, meshName=MESH).update(spec={"egressFilter": {"type": "DENY"}}),
        ["Mesh 'default'", "spec.egressFilter.type", "'DENY'"],
    ),
    (
        "duplicate-route",
        lambda r: r.append(copy.deepcopy(teller_route(r))),
        [ROUTE, "routeName", "declared twice"],
    ),
    (
        "duplicate-mesh",
        lambda r: r.append({"meshName": MESH}),
        ["Mesh 'default'", "meshName", "declared twice"],
    ),
    (
        "missing-mesh-name",
        lambda r: find(r, virtualNodeName="colorteller-vn").pop("meshName"),
        ["VirtualNode 'colorteller-vn'", "meshName", "None"],
    ),
    (
        "tcp-weight-zero",
        lambda r: r.extend(
            [
                node("db-vn", 5432, "tcp", "db.local"),
                node("db2-vn", 5432, "tcp", "db2.local"),
                {
                    "meshName": MESH,
                    "virtualRouterName": "db-vr",
                    "spec": {"listeners": [{"portMapping": {"port": 5432, "protocol": "tcp"}}]},
                },
                route(
                    "db-vr",
                    "db-route",
                    {
                        "tcpRoute": {
                            "action": {
                                "weightedTargets": [
                                    {"virtualNode": "db-vn", "weight": 1},
                                    {"virtualNode": "db2-vn", "weight": 0},
                                ]
                            }
                        }
                    },
                ),
            ]
        ),
        ["Route 'db-route'", "spec.tcpRoute.action.weightedTargets[1].weight", "(got 0)"],
    ),
    (
        "two-tcp-routes",
        lambda r: r.extend(
            [
                node("db-vn", 5432, "tcp", "db.local"),
                {
                    "meshName": MESH,
                    "virtualRouterName": "db-vr",
                    "spec": {"listeners": [{"portMapping": {"port": 5432, "protocol": "tcp"}}]},
                },
                route(
                    "db-vr",
                    "db-a",
                    {
                        "tcpRoute": {
                            "action": {"weightedTargets": [{"virtualNode": "db-vn", "weight": 1}]}
                        }
                    },
                ),
                route(
                    "db-vr",
                    "db-b",
                    {
                        "tcpRoute": {
                            "action": {"weightedTargets": [{"virtualNode": "db-vn", "weight": 1}]}
                        }
                    },
                ),
            ]
        ),
        ["VirtualRouter 'db-vr'", "spec.listeners", "2 tcp routes", "['db-a', 'db-b']"],
    ),
    (
        "grpc-method-without-service",
        lambda r: r.extend(
            [
                node("g-vn", 9090, "grpc", "g.local"),
                {
                    "meshName": MESH,
                    "virtualRouterName": "g-vr",
                    "spec": {"listeners": [{"portMapping": {"port": 9090, "protocol": "grpc"}}]},
                },
                route(
                    "g-vr",
                    "g-route",
                    {
                        "grpcRoute": {
                            "match": {"methodName": "Pick"},
                            "action": {"weightedTargets": [{"virtualNode": "g-vn", "weight": 1}]},
                        }
                    },
                ),
            ]
        ),
        ["Route 'g-route'", "spec.grpcRoute.match", "serviceName"],
    ),
    (
        "tcp-backend-port-clash",
        lambda r: (
            r.extend(
                [
                    node("db-vn", 9080, "tcp", "db.local"),
                    {
                        "meshName": MESH,
                        "virtualServiceName": "db.local",
                        "spec": {"provider": {"virtualNode": {"virtualNodeName": "db-vn"}}},
                    },
                ]
            )
            or _gw(r)["backends"].append({"virtualService": {"virtualServiceName": "db.local"}})
        ),
        [GW, "spec.backends", "port 9080", "'db.local'"],
    ),
    (
        "preview-service-other-provider",
        lambda r: (
            _router(r).update(serviceNames=["other.local"])
            or r.append(
                {
                    "meshName": MESH,
                    "virtualServiceName": "other.local",
                    "spec": {"provider": {"virtualNode": {"virtualNodeName": "colorteller-vn"}}},
                }
            )
        ),
        ["VirtualRouter 'colorteller-vr'", "spec.serviceNames[0]", "'other.local'"],
    ),
    (
        "router-listener-underivable",
        lambda r: (
            (
                _router(r).pop("listeners")
                and _targets(r).append({"virtualNode": "colorteller-blue-vn", "weight": 1})
            )
            or find(r, virtualNodeName="colorteller-blue-vn")["spec"]["listeners"][0][
                "portMapping"
            ].update(port=9081)
        ),
        ["VirtualRouter 'colorteller-vr'", "spec.listeners", "9081"],
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_model_is_refused_with_a_precise_message(mutate, expected):
    resources = base()
    mutate(resources)
    with pytest.raises(ConfigError) as caught:
        parse_resources(resources)
    message = str(caught.value)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert caught.value.exit_code == 2


def test_there_are_enough_cases():
    assert len(CASES) >= 25


def test_the_base_itself_is_valid():
    assert list(parse_resources(base())) == [MESH]
