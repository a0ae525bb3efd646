"""App Mesh fields beyond the walkthrough (issue 9) through the real aws CLI and a real server:
what App Mesh accepted is accepted and described back unchanged, what it refused is a
BadRequestException naming the field, and the store keeps App Mesh's delete constraints."""

from __future__ import annotations

import json

import pytest

MESH = "parity"
HEALTH = {
    "protocol": "http",
    "path": "/ping",
    "healthyThreshold": 2,
    "unhealthyThreshold": 3,
    "intervalMillis": 5000,
    "timeoutMillis": 2000,
}


def node_spec(port: int = 9080, protocol: str = "http", hostname: str = "app.local", **listener):
    return {
        "listeners": [{"portMapping": {"port": port, "protocol": protocol}, **listener}],
        "serviceDiscovery": {"dns": {"hostname": hostname}},
    }


@pytest.fixture(scope="module")
def mesh_server(shared_server):
    shared_server.aws("create-mesh", "--mesh-name", MESH)
    return shared_server


def test_listener_health_check_is_accepted_and_described(mesh_server):
    spec = node_spec(healthCheck=HEALTH)
    created = mesh_server.create_node(MESH, "health-vn", spec).json["virtualNode"]
    assert created["spec"]["listeners"][0]["healthCheck"] == HEALTH
    described = mesh_server.aws(
        "describe-virtual-node", "--mesh-name", MESH, "--virtual-node-name", "health-vn"
    ).json["virtualNode"]
    assert described["spec"] == created["spec"]


def test_bad_health_check_is_a_bad_request_naming_the_field(mesh_server):
    # The aws CLI checks the model's ranges itself; a missing http path is the server's rule.
    spec = node_spec(healthCheck={k: v for k, v in HEALTH.items() if k != "path"})
    result = mesh_server.create_node(MESH, "bad-health-vn", spec, check=False)
    assert "(BadRequestException)" in result.stderr
    assert "healthCheck" in result.stderr and "path is required" in result.stderr
    missing = mesh_server.aws(
        "describe-virtual-node",
        "--mesh-name",
        MESH,
        "--virtual-node-name",
        "bad-health-vn",
        check=False,
    )
    assert "(NotFoundException)" in missing.stderr


def test_route_match_with_only_port_is_accepted(mesh_server):
    mesh_server.create_node(MESH, "port-vn", node_spec(hostname="port.local"))
    mesh_server.aws(
        "create-virtual-router",
        "--mesh-name",
        MESH,
        "--virtual-router-name",
        "port-vr",
        "--spec",
        json.dumps({"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}]}),
    )
    spec = {
        "httpRoute": {
            "match": {"port": 9080},
            "action": {"weightedTargets": [{"virtualNode": "port-vn", "weight": 1}]},
        }
    }
    route = mesh_server.aws(
        "create-route",
        "--mesh-name",
        MESH,
        "--virtual-router-name",
        "port-vr",
        "--route-name",
        "by-port",
        "--spec",
        json.dumps(spec),
    ).json["route"]
    assert route["spec"]["httpRoute"]["match"] == {"port": 9080}


# ------------------------------------------------------------------------ delete constraints
def _delete(server, kind: str, *names: str, check: bool = False):
    flags = {
        "virtual-service": ["--virtual-service-name"],
        "virtual-node": ["--virtual-node-name"],
        "virtual-router": ["--virtual-router-name"],
        "route": ["--virtual-router-name", "--route-name"],
    }[kind]
    args = [item for pair in zip(flags, names, strict=True) for item in pair]
    return server.aws(f"delete-{kind}", "--mesh-name", MESH, *args, check=check)


@pytest.fixture
def small_mesh(server):
    """client-vn -> backends svc.local (provider router r-vr, route r -> app-vn) and direct.local
    (provider app-vn). Built with boto3 (quick); the deletes under test go through the aws CLI."""
    client = server.boto3()
    client.create_mesh(meshName=MESH)
    client.create_virtual_node(meshName=MESH, virtualNodeName="app-vn", spec=node_spec())
    backends = [
        {"virtualService": {"virtualServiceName": n}} for n in ("svc.local", "direct.local")
    ]
    client.create_virtual_node(
        meshName=MESH, virtualNodeName="client-vn", spec={"backends": backends}
    )
    listeners = [{"portMapping": {"port": 9080, "protocol": "http"}}]
    client.create_virtual_router(
        meshName=MESH, virtualRouterName="r-vr", spec={"listeners": listeners}
    )
    action = {"weightedTargets": [{"virtualNode": "app-vn", "weight": 1}]}
    client.create_route(
        meshName=MESH,
        virtualRouterName="r-vr",
        routeName="r",
        spec={"httpRoute": {"match": {"prefix": "/"}, "action": action}},
    )
    for service, provider in (
        ("svc.local", {"virtualRouter": {"virtualRouterName": "r-vr"}}),
        ("direct.local", {"virtualNode": {"virtualNodeName": "app-vn"}}),
    ):
        client.create_virtual_service(
            meshName=MESH, virtualServiceName=service, spec={"provider": provider}
        )
    return server


def test_a_service_a_node_names_as_backend_can_be_deleted(small_mesh):
    # API Reference (DeleteVirtualService): only a gateway route targeting it blocks the delete;
    # backends may name a service that does not exist, as at creation.
    _delete(small_mesh, "virtual-service", "svc.local", check=True)
    _delete(small_mesh, "virtual-service", "direct.local", check=True)
    client = small_mesh.aws(
        "describe-virtual-node", "--mesh-name", MESH, "--virtual-node-name", "client-vn"
    ).json["virtualNode"]
    assert len(client["spec"]["backends"]) == 2
    # Its backends still name the deleted services; recreating one is allowed (and routed again).
    small_mesh.boto3().create_virtual_service(
        meshName=MESH,
        virtualServiceName="svc.local",
        spec={"provider": {"virtualRouter": {"virtualRouterName": "r-vr"}}},
    )


@pytest.mark.parametrize(
    ("kind", "names", "words"),
    [
        # DeleteVirtualNode: not while a virtual service names it as provider or a route targets it.
        ("virtual-node", ("app-vn",), ["app-vn", "direct.local"]),
        # DeleteVirtualRouter: not while it has routes or a virtual service names it as provider.
        ("virtual-router", ("r-vr",), ["r-vr", "'r'"]),
    ],
)
def test_delete_refused_as_the_api_reference_lists(small_mesh, kind, names, words):
    result = _delete(small_mesh, kind, *names)
    assert "(ResourceInUseException)" in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_router_named_as_provider_is_in_use_once_its_routes_are_gone(small_mesh):
    _delete(small_mesh, "route", "r-vr", "r", check=True)
    result = _delete(small_mesh, "virtual-router", "r-vr")
    assert "(ResourceInUseException)" in result.stderr and "svc.local" in result.stderr


def test_node_a_route_targets_is_in_use(small_mesh):
    _delete(small_mesh, "virtual-service", "direct.local", check=True)
    result = _delete(small_mesh, "virtual-node", "app-vn")
    assert "(ResourceInUseException)" in result.stderr
    assert "'r'" in result.stderr and "weightedTargets" in result.stderr
    _delete(small_mesh, "route", "r-vr", "r", check=True)
    _delete(small_mesh, "virtual-node", "app-vn", check=True)


def test_ipv6_mesh_and_node_ip_preference_are_accepted(shared_server):
    spec = {"serviceDiscovery": {"ipPreference": "IPv6_PREFERRED"}}
    mesh = shared_server.aws(
        "create-mesh", "--mesh-name", "parity-v6", "--spec", json.dumps(spec)
    ).json["mesh"]
    assert mesh["spec"]["serviceDiscovery"] == {"ipPreference": "IPv6_PREFERRED"}
    node = node_spec()
    node["serviceDiscovery"]["dns"]["ipPreference"] = "IPv4_ONLY"
    created = shared_server.aws(
        "create-virtual-node",
        *("--mesh-name", "parity-v6", "--virtual-node-name", "v4-vn"),
        *("--spec", json.dumps(node)),
    ).json["virtualNode"]
    assert created["spec"]["serviceDiscovery"]["dns"]["ipPreference"] == "IPv4_ONLY"


def test_access_log_is_accepted_and_a_bad_format_refused(mesh_server):
    spec = node_spec(hostname="logged.local")
    pairs = [{"key": "code", "value": "%RESPONSE_CODE%"}]
    spec["logging"] = {"accessLog": {"file": {"path": "/dev/stdout", "format": {"json": pairs}}}}
    created = mesh_server.create_node(MESH, "logged-vn", spec).json["virtualNode"]
    assert created["spec"]["logging"] == spec["logging"]
    spec["logging"]["accessLog"]["file"]["format"] = {"text": "%RESPONSE_CODE(x)%"}
    result = mesh_server.create_node(MESH, "bad-log-vn", spec, check=False)
    assert "(BadRequestException)" in result.stderr
    assert "logging.accessLog.file.format.text" in result.stderr, result.stderr


def test_connection_pool_and_outlier_detection_are_accepted(mesh_server):
    outlier = {
        "maxServerErrors": 5,
        "maxEjectionPercent": 50,
        "interval": {"unit": "s", "value": 10},
        "baseEjectionDuration": {"unit": "s", "value": 30},
    }
    pool = {"http": {"maxConnections": 10, "maxPendingRequests": 5}}
    spec = node_spec(hostname="pool.local", connectionPool=pool, outlierDetection=outlier)
    listener = mesh_server.create_node(MESH, "pool-vn", spec).json["virtualNode"]["spec"][
        "listeners"
    ][0]
    assert listener["connectionPool"] == pool and listener["outlierDetection"] == outlier
    # VirtualNodeConnectionPool: the member must be the listener's protocol.
    spec = node_spec(hostname="pool.local", connectionPool={"tcp": {"maxConnections": 1}})
    result = mesh_server.create_node(MESH, "bad-pool-vn", spec, check=False)
    assert "(BadRequestException)" in result.stderr and "connectionPool" in result.stderr
