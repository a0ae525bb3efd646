"""App Mesh listener and discovery fields beyond the walkthrough (issue 9): accepted as the
2019-01-25 model and the API Reference allow them, refused as App Mesh refused them, and
translated onto the Envoy resources App Mesh put them on.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.type.v3 import http_pb2

from proxyinit.contract import NodeId
from proxyinit.errors import ConfigError
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds.types import CLUSTER, LISTENER, ROUTE
from tests.mesh.mesh_scenarios import (
    MESH,
    TELLER,
    base,
    blue_red,
    find,
    http2_endpoints,
    node,
    teller_route,
)

TELLER_VN = "colorteller-vn"
INGRESS = "cds_ingress_default_colorteller-vn_http_9080"


def _with_listener(**fields) -> list[dict]:
    resources = copy.deepcopy(base())
    find(resources, virtualNodeName=TELLER_VN)["spec"]["listeners"][0].update(fields)
    return resources


def _clusters(resources: list[dict], node: str = TELLER_VN) -> dict[str, cluster_pb2.Cluster]:
    model = parse_resources(resources)[MESH]
    return {c.name: c for c in translate_node(model, NodeId(MESH, node))[CLUSTER]}


def _refused(resources: list[dict]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_resources(resources)
    return str(caught.value)


# ------------------------------------------------------------------------------ healthCheck
HEALTH = {
    "protocol": "http",
    "path": "/ping",
    "healthyThreshold": 2,
    "unhealthyThreshold": 3,
    "intervalMillis": 5000,
    "timeoutMillis": 2000,
}


def test_health_check_goes_on_the_local_app_cluster():
    check = _clusters(_with_listener(healthCheck=HEALTH))[INGRESS].health_checks
    assert len(check) == 1
    assert check[0].http_health_check.path == "/ping"
    assert check[0].interval.ToMilliseconds() == 5000
    assert check[0].timeout.ToMilliseconds() == 2000
    assert check[0].healthy_threshold.value == 2 and check[0].unhealthy_threshold.value == 3


def test_health_check_goes_on_the_clusters_of_the_nodes_routing_to_it_too():
    # App Mesh's clients ran the check (aws-app-mesh-roadmap#105): a caller's Envoy stops sending
    # to an instance that fails it. Every interval, with or without traffic.
    egress = _clusters(_with_listener(healthCheck=HEALTH), "colorgateway-vn")[TELLER_EGRESS]
    (check,) = egress.health_checks
    assert check.http_health_check.path == "/ping"
    assert check.interval.ToMilliseconds() == check.no_traffic_interval.ToMilliseconds() == 5000
    assert check.unhealthy_threshold.value == 3


@pytest.mark.parametrize(
    ("protocol", "checker"), [("tcp", "tcp_health_check"), ("http2", "http_health_check")]
)
def test_health_check_protocols(protocol, checker):
    health = {**HEALTH, "protocol": protocol, "port": 9080}
    (check,) = _clusters(_with_listener(healthCheck=health))[INGRESS].health_checks
    assert check.WhichOneof("health_checker") == checker


def test_grpc_health_check_on_a_grpc_listener():
    resources = copy.deepcopy(base())
    resources.append(node("picker-vn", 9090, "grpc", "picker.local"))
    listener = resources[-1]["spec"]["listeners"][0]
    listener["healthCheck"] = {**HEALTH, "protocol": "grpc"}
    clusters = _clusters(resources, "picker-vn")
    (check,) = clusters["cds_ingress_default_picker-vn_grpc_9090"].health_checks
    assert check.WhichOneof("health_checker") == "grpc_health_check"


def test_http2_health_check_speaks_http2():
    health = {**HEALTH, "protocol": "http2"}
    (check,) = _clusters(_with_listener(healthCheck=health))[INGRESS].health_checks
    assert check.http_health_check.codec_client_type == http_pb2.HTTP2


def test_no_health_check_by_default():
    assert not _clusters(copy.deepcopy(base()))[INGRESS].health_checks


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"intervalMillis": 4999}, ["healthCheck.intervalMillis", "4999"]),
        ({"intervalMillis": 300001}, ["healthCheck.intervalMillis", "300001"]),
        ({"timeoutMillis": 1999}, ["healthCheck.timeoutMillis", "1999"]),
        ({"healthyThreshold": 1}, ["healthCheck.healthyThreshold", "1"]),
        ({"unhealthyThreshold": 11}, ["healthCheck.unhealthyThreshold", "11"]),
        ({"protocol": "udp"}, ["healthCheck.protocol", "'udp'"]),
        ({"path": None}, ["healthCheck", "path is required", "'http'"]),
        ({"port": 9081}, ["healthCheck.port", "9081", "9080"]),
        ({"color": "blue"}, ["healthCheck.color", "unknown"]),
        # Envoy sends the path as a header value: control characters would be a NACK.
        ({"path": "/a\nb"}, ["healthCheck.path", "control character"]),
        # Envoy cannot run a gRPC check over the HTTP/1 cluster of an http listener (a NACK).
        ({"protocol": "grpc"}, ["healthCheck.protocol 'grpc'", "'http'"]),
    ],
)
def test_health_check_refused_as_app_mesh_refused(change, words):
    health = {k: v for k, v in {**HEALTH, **change}.items() if v is not None}
    message = _refused(_with_listener(healthCheck=health))
    assert "VirtualNode 'colorteller-vn'" in message
    for word in words:
        assert word in message, message


def test_health_check_tcp_needs_no_path():
    health = {k: v for k, v in HEALTH.items() if k != "path"} | {"protocol": "tcp"}
    assert _clusters(_with_listener(healthCheck=health))[INGRESS].health_checks


# ------------------------------------------------------------------------ match with only port
def _port_only(kind: str) -> list[dict]:
    resources = copy.deepcopy(base())
    if kind == "http2Route":
        resources = http2_endpoints(resources)
    teller_route(resources)["spec"][kind]["match"] = {"port": 9080}
    return resources


@pytest.mark.parametrize("kind", ["httpRoute", "http2Route"])
def test_http_match_with_only_port_is_a_catch_all_on_that_port(kind):
    model = parse_resources(_port_only(kind))[MESH]
    routes = translate_node(model, NodeId(MESH, "colorgateway-vn"))[ROUTE]
    (config,) = [r for r in routes if r.name == "rds_egress_http_9080"]
    (host,) = [h for h in config.virtual_hosts if h.name.startswith(TELLER)]
    (route,) = host.routes
    assert route.match.prefix == "/" and not route.match.headers
    assert route.route.weighted_clusters.clusters[0].name.startswith(
        "cds_egress_default_colorteller"
    )


def test_http_match_with_port_and_headers_keeps_the_headers():
    resources = _port_only("httpRoute")
    teller_route(resources)["spec"]["httpRoute"]["match"]["headers"] = [
        {"name": "x-color", "match": {"exact": "blue"}}
    ]
    model = parse_resources(resources)[MESH]
    routes = translate_node(model, NodeId(MESH, "colorgateway-vn"))[ROUTE]
    (config,) = [r for r in routes if r.name == "rds_egress_http_9080"]
    (host,) = [h for h in config.virtual_hosts if h.name.startswith(TELLER)]
    assert host.routes[0].match.prefix == "/"
    assert [h.name for h in host.routes[0].match.headers] == ["x-color"]


@pytest.mark.parametrize(
    ("match", "words"),
    [
        ({}, ["spec.httpRoute.match", "prefix", "path", "port"]),
        ({"prefix": "/", "path": {"exact": "/a"}}, ["spec.httpRoute.match", "prefix", "path"]),
        ({"port": 9081}, ["match.port", "9081"]),
    ],
)
def test_http_match_still_needs_something_to_match(match, words):
    resources = copy.deepcopy(base())
    teller_route(resources)["spec"]["httpRoute"]["match"] = match
    message = _refused(resources)
    for word in words:
        assert word in message, message


# --------------------------------------------------------------- backends naming no service
def test_backend_naming_a_missing_service_translates_without_a_route():
    resources = [r for r in copy.deepcopy(base()) if r.get("virtualServiceName") != TELLER]
    model = parse_resources(resources)[MESH]
    out = translate_node(model, NodeId(MESH, "colorgateway-vn"))
    hosts = [h.name for config in out[ROUTE] for h in config.virtual_hosts]
    assert not any(name.startswith(TELLER) for name in hosts)
    assert not [c for c in out[CLUSTER] if c.name.startswith("cds_egress")]


# ------------------------------------------------------------------------------ ipPreference
FAMILY = cluster_pb2.Cluster.DnsLookupFamily
TELLER_EGRESS = "cds_egress_default_colorteller-vn_http_9080"


def _ip(mesh: str | None = None, teller: str | None = None, gateway: str | None = None):
    resources = copy.deepcopy(base())
    if mesh is not None:
        find(resources, meshName=MESH)["spec"]["serviceDiscovery"] = {"ipPreference": mesh}
    for name, value in (("colorteller-vn", teller), ("colorgateway-vn", gateway)):
        if value is not None:
            dns = find(resources, virtualNodeName=name)["spec"]["serviceDiscovery"]["dns"]
            dns["ipPreference"] = value
    return resources


@pytest.mark.parametrize(
    ("preference", "family"),
    [
        ("IPv6_PREFERRED", FAMILY.AUTO),
        ("IPv4_PREFERRED", FAMILY.V4_PREFERRED),
        ("IPv4_ONLY", FAMILY.V4_ONLY),
        ("IPv6_ONLY", FAMILY.V6_ONLY),
    ],
)
def test_mesh_ip_preference_sets_the_dns_lookup_family(preference, family):
    clusters = _clusters(_ip(mesh=preference), "colorgateway-vn")
    assert clusters[TELLER_EGRESS].dns_lookup_family == family


def test_target_node_ip_preference_overrides_the_mesh():
    # howto-ipv6: a node's preference changes the config of the nodes routing to it, too.
    resources = blue_red(_ip(mesh="IPv4_ONLY"))
    dns = find(resources, virtualNodeName="colorteller-blue-vn")["spec"]["serviceDiscovery"]["dns"]
    dns["ipPreference"] = "IPv6_ONLY"
    clusters = _clusters(resources, "colorgateway-vn")
    blue = clusters["cds_egress_default_colorteller-blue-vn_http_9080"]
    red = clusters["cds_egress_default_colorteller-red-vn_http_9080"]
    assert (blue.dns_lookup_family, red.dns_lookup_family) == (FAMILY.V6_ONLY, FAMILY.V4_ONLY)


def test_ipv6_preference_reaches_the_local_app_on_ipv6_loopback_and_binds_both_families():
    model = parse_resources(_ip(mesh="IPv4_ONLY", teller="IPv6_PREFERRED"))[MESH]
    out = translate_node(model, NodeId(MESH, TELLER_VN))
    (local,) = [c for c in out[CLUSTER] if c.name == INGRESS]
    endpoint = local.load_assignment.endpoints[0].lb_endpoints[0].endpoint
    assert endpoint.address.socket_address.address == "::1"
    for listener in out[LISTENER]:
        if listener.name.startswith("lds_dns_"):  # loopback UDP, one per family (dns.py)
            continue
        assert listener.address.socket_address.address == "0.0.0.0"
        (extra,) = listener.additional_addresses
        assert extra.address.socket_address.address == "::"


def test_no_ip_preference_keeps_ipv4_only_binding():
    model = parse_resources(copy.deepcopy(base()))[MESH]
    out = translate_node(model, NodeId(MESH, TELLER_VN))
    assert all(not listener.additional_addresses for listener in out[LISTENER])
    (local,) = [c for c in out[CLUSTER] if c.name == INGRESS]
    endpoint = local.load_assignment.endpoints[0].lb_endpoints[0].endpoint
    assert endpoint.address.socket_address.address == "127.0.0.1"


@pytest.mark.parametrize("where", ["mesh", "teller"])
def test_unknown_ip_preference_is_refused(where):
    message = _refused(_ip(**{where: "IPv5_ONLY"}))
    assert "ipPreference" in message and "'IPv5_ONLY'" in message, message


# ------------------------------------------------------------------------ logging.accessLog
def _logged(file: dict, node_name: str = "colorgateway-vn") -> list[dict]:
    resources = copy.deepcopy(base())
    spec = find(resources, virtualNodeName=node_name)["spec"]
    spec["logging"] = {"accessLog": {"file": file}}
    return resources


def _access_logs(resources: list[dict], node_name: str = "colorgateway-vn") -> dict[str, list]:
    """{filter chain name: [FileAccessLog]} over the node's listeners (default chains too)."""
    model = parse_resources(resources)[MESH]
    out = {}
    for listener in translate_node(model, NodeId(MESH, node_name))[LISTENER]:
        chains = [*listener.filter_chains, listener.default_filter_chain]
        for chain in chains:
            for filter_ in chain.filters:
                config = _unpack_any(filter_.typed_config)
                logs = getattr(config, "access_log", None)
                if logs is None:
                    continue
                files = []
                for log in logs:
                    file_log = file_pb2.FileAccessLog()
                    log.typed_config.Unpack(file_log)
                    files.append(file_log)
                out[f"{listener.name}/{chain.name}"] = files
    return out


def _unpack_any(packed):
    for cls in (hcm_pb2.HttpConnectionManager, tcp_proxy_pb2.TcpProxy):
        if packed.Is(cls.DESCRIPTOR):
            message = cls()
            packed.Unpack(message)
            return message
    return None


def test_access_log_file_on_every_proxying_chain_of_the_node():
    logs = _access_logs(_logged({"path": "/dev/stdout"}))
    with_log = {name for name, files in logs.items() if files}
    assert "lds_ingress_0.0.0.0_15000/ingress_http_9080" in with_log
    assert "lds_egress_0.0.0.0_15001/egress_http_9080" in with_log
    assert all(f.path == "/dev/stdout" for files in logs.values() for f in files)
    (log,) = logs["lds_ingress_0.0.0.0_15000/ingress_http_9080"]
    assert not log.HasField("log_format")  # Envoy's default format, as App Mesh without format


def test_no_access_log_by_default():
    assert not any(_access_logs(copy.deepcopy(base())).values())


def test_access_log_text_and_json_formats():
    text = "%START_TIME% %REQ(:METHOD)% %RESPONSE_CODE%\n"
    (log,) = _access_logs(_logged({"path": "/tmp/a.log", "format": {"text": text}}))[
        "lds_ingress_0.0.0.0_15000/ingress_http_9080"
    ]
    assert log.log_format.text_format_source.inline_string == text
    pairs = [{"key": "code", "value": "%RESPONSE_CODE%"}, {"key": "path", "value": "%REQ(:PATH)%"}]
    (log,) = _access_logs(_logged({"path": "/tmp/a.log", "format": {"json": pairs}}))[
        "lds_ingress_0.0.0.0_15000/ingress_http_9080"
    ]
    assert dict(log.log_format.json_format) == {"code": "%RESPONSE_CODE%", "path": "%REQ(:PATH)%"}


@pytest.mark.parametrize(
    ("file", "words"),
    [
        ({"path": ""}, ["logging.accessLog.file.path"]),
        ({"path": "/x", "format": {}}, ["format", "json", "text"]),
        ({"path": "/x", "format": {"text": "a", "json": []}}, ["format", "json", "text"]),
        (
            {"path": "/x", "format": {"text": "%NOT_AN_OPERATOR%"}},
            ["format.text", "NOT_AN_OPERATOR"],
        ),
        ({"path": "/x", "format": {"text": "100% done"}}, ["format.text", "'%'"]),
        ({"path": "/x", "format": {"text": "%RESPONSE_CODE(x)%"}}, ["RESPONSE_CODE", "no (param"]),
        ({"path": "/x", "format": {"text": "%REQ%"}}, ["REQ(...)", "needs (param"]),
        ({"path": "/x", "format": {"text": "%DURATION:5%"}}, ["DURATION", "no :length"]),
        (
            {"path": "/x", "format": {"json": [{"key": "k", "value": "%BOGUS%"}]}},
            ["format.json[0].value", "BOGUS"],
        ),
        ({"path": "/x", "format": {"json": [{"key": "", "value": "v"}]}}, ["json[0].key"]),
    ],
)
def test_bad_access_log_is_refused(file, words):
    message = _refused(_logged(file))
    assert "VirtualNode 'colorgateway-vn'" in message
    for word in words:
        assert word in message, message


# ----------------------------------------------------------------------------- connectionPool
def _thresholds(cluster: cluster_pb2.Cluster) -> dict[str, int]:
    (threshold,) = cluster.circuit_breakers.thresholds
    return {
        name: getattr(threshold, name).value
        for name in ("max_connections", "max_pending_requests", "max_requests", "max_retries")
    }


UNLIMITED = 2147483647


def test_http_connection_pool_limits_the_local_app_cluster():
    pool = {"http": {"maxConnections": 10, "maxPendingRequests": 5}}
    clusters = _clusters(_with_listener(connectionPool=pool))
    assert _thresholds(clusters[INGRESS]) == {
        "max_connections": 10,
        "max_pending_requests": 5,
        "max_requests": UNLIMITED,
        "max_retries": UNLIMITED,
    }


def test_http_connection_pool_without_pending_keeps_app_mesh_default():
    clusters = _clusters(_with_listener(connectionPool={"http": {"maxConnections": 3}}))
    assert _thresholds(clusters[INGRESS])["max_pending_requests"] == UNLIMITED


def test_http2_and_grpc_pools_limit_requests_tcp_limits_connections():
    resources = http2_endpoints(copy.deepcopy(base()))
    listener = find(resources, virtualNodeName=TELLER_VN)["spec"]["listeners"][0]
    listener["connectionPool"] = {"http2": {"maxRequests": 7}}
    h2 = "cds_ingress_default_colorteller-vn_http2_9080"
    assert _thresholds(_clusters(resources)[h2])["max_requests"] == 7
    resources = copy.deepcopy(base())
    resources.append(node("db-vn", 5432, "tcp", "db.local"))
    resources[-1]["spec"]["listeners"][0]["connectionPool"] = {"tcp": {"maxConnections": 4}}
    tcp = _clusters(resources, "db-vn")["cds_ingress_default_db-vn_tcp_5432"]
    assert _thresholds(tcp)["max_connections"] == 4


def test_egress_clusters_keep_app_mesh_defaults_with_a_pool():
    pool = {"http": {"maxConnections": 10}}
    clusters = _clusters(_with_listener(connectionPool=pool), "colorgateway-vn")
    assert set(_thresholds(clusters[TELLER_EGRESS]).values()) == {UNLIMITED}


@pytest.mark.parametrize(
    ("pool", "words"),
    [
        ({"tcp": {"maxConnections": 1}}, ["connectionPool", "'tcp'", "'http'"]),
        ({"http2": {"maxRequests": 1}}, ["connectionPool", "'http2'", "'http'"]),
        ({}, ["connectionPool", "exactly one"]),
        ({"http": {"maxConnections": 0}}, ["connectionPool.http.maxConnections", "0"]),
        ({"http": {"maxPendingRequests": 5}}, ["connectionPool.http.maxConnections", "required"]),
        ({"http": {"maxConnections": 2**31}}, ["connectionPool.http.maxConnections"]),
    ],
)
def test_bad_connection_pool_is_refused(pool, words):
    message = _refused(_with_listener(connectionPool=pool))
    assert "VirtualNode 'colorteller-vn'" in message
    for word in words:
        assert word in message, message


# --------------------------------------------------------------------------- outlierDetection
OUTLIER = {
    "maxServerErrors": 5,
    "maxEjectionPercent": 50,
    "interval": {"unit": "s", "value": 10},
    "baseEjectionDuration": {"unit": "ms", "value": 30000},
}


def test_outlier_detection_goes_on_the_clusters_of_the_nodes_routing_to_it():
    # howto-outlier-detection: defined on the server's node, applied by its clients' Envoys.
    resources = _with_listener(outlierDetection=OUTLIER)
    egress = _clusters(resources, "colorgateway-vn")[TELLER_EGRESS]
    detection = egress.outlier_detection
    assert detection.consecutive_5xx.value == 5
    assert detection.max_ejection_percent.value == 50
    assert detection.interval.ToMilliseconds() == 10000
    assert detection.base_ejection_time.ToMilliseconds() == 30000
    # Only App Mesh's one criterion (server errors) ejects: no success-rate ejection.
    assert detection.enforcing_success_rate.value == 0
    assert not _clusters(resources)[INGRESS].HasField("outlier_detection")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"maxEjectionPercent": 101}, ["outlierDetection.maxEjectionPercent", "101"]),
        ({"maxServerErrors": 0}, ["outlierDetection.maxServerErrors", "0"]),
        ({"maxServerErrors": 2**32}, ["outlierDetection.maxServerErrors"]),
        ({"interval": {"unit": "s", "value": 0}}, ["outlierDetection.interval", "above 0"]),
        ({"baseEjectionDuration": None}, ["outlierDetection.baseEjectionDuration", "required"]),
    ],
)
def test_bad_outlier_detection_is_refused(change, words):
    detection = {k: v for k, v in {**OUTLIER, **change}.items() if v is not None}
    message = _refused(_with_listener(outlierDetection=detection))
    for word in words:
        assert word in message, message


_VERSION_OF_ACCESS_LOG_SCENARIO = """
from proxyinit.contract import NodeId
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds.snapshot import Snapshot
from tests.mesh.mesh_scenarios import MESH, scenario_resources
model = parse_resources(scenario_resources("access_log"))[MESH]
print(Snapshot(translate_node(model, NodeId(MESH, "colorteller-vn"))).versions())
"""


def test_json_access_log_version_is_the_same_in_another_process():
    # A json format is a protobuf map (Struct) inside an Any: packed without deterministic
    # serialization its bytes, hence the version Envoys hold, change from one process to the next.
    root = Path(__file__).resolve().parents[2]
    runs = {
        subprocess.run(
            [sys.executable, "-c", _VERSION_OF_ACCESS_LOG_SCENARIO],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        for _ in range(4)
    }
    assert len(runs) == 1, runs
