"""The control plane's GC policy (controlplane/heap.py): rarer young collections, set once."""

from __future__ import annotations

import gc

import pytest

from proxyinit.controlplane.heap import YOUNG_THRESHOLD, HeapKeeper


@pytest.fixture
def thresholds():
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_young_collections_are_made_rarer_and_the_older_thresholds_kept(thresholds):
    gc.set_threshold(700, 10, 10)
    HeapKeeper()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)


def test_a_higher_threshold_or_a_collector_off_by_threshold_is_left_alone(thresholds):
    gc.set_threshold(50_000, 5, 5)
    HeapKeeper()
    assert gc.get_threshold() == (50_000, 5, 5)
    gc.set_threshold(0, 10, 10)
    HeapKeeper()
    assert gc.get_threshold() == (0, 10, 10)
