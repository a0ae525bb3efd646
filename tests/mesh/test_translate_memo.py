"""The memoized proto building of translation (translate/memo.py, access_log.py; issue 11) and
the collector pause around it (controlplane/gc_pause.py): memoized output is a copy, and a
changed input is never answered from the memo. Speed itself is bench.translate's."""

from __future__ import annotations

import copy
import gc

import pytest
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from proxyinit.contract import NodeId
from proxyinit.controlplane.gc_pause import gc_paused
from proxyinit.mesh.model.meshfile import parse_resources
from proxyinit.mesh.translate.node import translate_node
from proxyinit.xds.types import CLUSTER, LISTENER
from tests.mesh.mesh_scenarios import MESH, base, find

CLIENT = NodeId(MESH, "colorgateway-vn")
TARGET_CLUSTER = "cds_egress_default_colorteller-vn_http_9080"


def _serialized(resources: dict) -> dict:
    return {
        url: [m.SerializeToString(deterministic=True) for m in items]
        for url, items in resources.items()
    }


def _translate(resources) -> dict:
    return translate_node(parse_resources(resources)[MESH], CLIENT)


def test_a_node_s_output_is_its_own_copy():
    model = parse_resources(base())[MESH]
    first = translate_node(model, CLIENT)
    expected = _serialized(first)
    for cluster in first[CLUSTER]:
        cluster.name += "-changed"
        del cluster.health_checks[:]
    for listener in first[LISTENER]:
        for chain in listener.filter_chains:
            for filter_ in chain.filters:
                filter_.typed_config.value = b""
    assert _serialized(translate_node(model, CLIENT)) == expected


def test_a_target_s_new_policy_reaches_its_clients():
    resources = base()
    assert not _cluster(_translate(resources)).HasField("outlier_detection")
    changed = copy.deepcopy(resources)
    listener = find(changed, virtualNodeName="colorteller-vn")["spec"]["listeners"][0]
    listener["outlierDetection"] = {
        "maxServerErrors": 7,
        "interval": {"unit": "s", "value": 10},
        "baseEjectionDuration": {"unit": "s", "value": 30},
        "maxEjectionPercent": 50,
    }
    assert _cluster(_translate(changed)).outlier_detection.consecutive_5xx.value == 7
    assert not _cluster(_translate(resources)).HasField("outlier_detection")


def test_a_changed_access_log_path_is_the_one_added():
    for path in ("/dev/stdout", "/tmp/other.log", "/dev/stdout"):
        resources = base()
        spec = find(resources, virtualNodeName="colorgateway-vn")["spec"]
        spec["logging"] = {"accessLog": {"file": {"path": path}}}
        assert _hcm_log_paths(_translate(resources)) == {path}


def _cluster(resources: dict):
    return next(c for c in resources[CLUSTER] if c.name == TARGET_CLUSTER)


def _hcm_log_paths(resources: dict) -> set[str]:
    from envoy.extensions.access_loggers.file.v3 import file_pb2

    paths = set()
    for listener in resources[LISTENER]:
        for chain in listener.filter_chains:
            for filter_ in chain.filters:
                if filter_.typed_config.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
                    manager = hcm_pb2.HttpConnectionManager()
                    filter_.typed_config.Unpack(manager)
                    for log in manager.access_log:
                        config = file_pb2.FileAccessLog()
                        log.typed_config.Unpack(config)
                        paths.add(config.path)
    return paths


def test_gc_paused_restores_the_collector_even_on_error():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_gc_paused_leaves_a_disabled_collector_disabled():
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
