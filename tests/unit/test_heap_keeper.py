"""The full collection (controlplane/heap.py) waits for a quiet moment, never lands in a burst.

A fake clock and scheduler stand in for time and the event loop; `collect` is a counter, so
nothing here depends on how long a real collection takes. Young collections are made rarer,
set once.
"""

from __future__ import annotations

import asyncio
import gc

import pytest

from proxyinit.controlplane.heap import YOUNG_THRESHOLD, HeapKeeper

# Every HeapKeeper raises the young threshold of this process: each test puts it back.
pytestmark = pytest.mark.usefixtures("thresholds")


class FakeLoop:
    """A clock and call_later: callbacks run when `advance` passes their time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, object]] = []

    def call_later(self, delay: float, callback) -> None:
        self.timers.append((self.now + delay, callback))

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = sorted((t for t in self.timers if t[0] <= end), key=lambda t: t[0])
            if not due:
                break
            self.timers.remove(due[0])
            self.now = due[0][0]
            due[0][1]()
        self.now = end


def keeper(loop: FakeLoop, collections: list, **options) -> HeapKeeper:
    return HeapKeeper(
        clock=lambda: loop.now,
        call_later=loop.call_later,
        collect=lambda: collections.append(loop.now),
        **options,
    )


def burst(loop: FakeLoop, heap: HeapKeeper, writes: int, every: float = 0.01) -> None:
    for _ in range(writes):
        heap.after_publish()
        loop.advance(every)


def test_the_full_collection_runs_after_the_quiet_period_not_during_a_burst():
    loop, collections = FakeLoop(), []
    heap = keeper(loop, collections, quiet=3.0, force_every=10_000)
    try:
        burst(loop, heap, 2_000)  # 20 s of writes 10 ms apart: never 3 s quiet
        assert collections == []
        assert len(loop.timers) <= 1  # one idle check pending, not one per publish
        loop.advance(2.9)
        assert collections == []
        loop.advance(0.2)
        assert len(collections) == 1
        assert collections[0] >= 20.0 + 3.0 - 0.01  # 3 s after the last publish
        loop.advance(60)
        assert len(collections) == 1  # nothing published since: nothing to collect
        burst(loop, heap, 5)
        loop.advance(5)
        assert len(collections) == 2
    finally:
        gc.unfreeze()


def test_under_constant_writes_it_still_runs_every_force_every_publishes():
    loop, collections = FakeLoop(), []
    heap = keeper(loop, collections, quiet=3.0, force_every=500)
    try:
        burst(loop, heap, 1_600)
        assert len(collections) == 3  # at the 500th, 1,000th and 1,500th publish
        loop.advance(5)
        assert len(collections) == 4  # and the 100 since, once idle
    finally:
        gc.unfreeze()


async def test_on_a_real_loop_it_schedules_itself_and_collects_once_idle():
    collections: list[int] = []
    heap = HeapKeeper(quiet=0.05, collect=lambda: collections.append(1))
    try:
        for _ in range(3):
            heap.after_publish()
        assert collections == []
        for _ in range(100):  # bounded: ~2 s at most
            if collections:
                break
            await asyncio.sleep(0.02)
        assert collections == [1]
    finally:
        gc.unfreeze()


def test_a_prepares_recording_view_is_freed_without_the_cyclic_collector():
    """What a write leaves behind must be freed by reference counting: a cycle through the
    recording view kept the previous model (a whole mesh's tables, at 1,000 nodes ~30 KiB a
    write) until the next full collection, which now waits for an idle moment."""
    import weakref
    from pathlib import Path

    from proxyinit.controlplane.incremental import Recorder
    from proxyinit.mesh.model.meshfile import load_mesh_file

    colorapp = Path(__file__).resolve().parents[2] / "examples" / "colorapp" / "mesh.yaml"
    (model,) = load_mesh_file(colorapp).values()
    enabled = gc.isenabled()
    gc.disable()
    try:
        recorder = Recorder(model)
        log = recorder.start()
        assert "colorgateway-vn" in recorder.model.nodes
        assert ("nodes", "colorgateway-vn") in log.keys
        view = weakref.ref(recorder.model)
        del recorder
        assert view() is None
    finally:
        if enabled:
            gc.enable()


@pytest.fixture
def thresholds():
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_young_collections_are_made_rarer_and_the_older_thresholds_kept():
    gc.set_threshold(700, 10, 10)
    HeapKeeper()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)


def test_a_higher_threshold_or_a_collector_off_by_threshold_is_left_alone():
    gc.set_threshold(50_000, 5, 5)
    HeapKeeper()
    assert gc.get_threshold() == (50_000, 5, 5)
    gc.set_threshold(0, 10, 10)
    HeapKeeper()
    assert gc.get_threshold() == (0, 10, 10)
