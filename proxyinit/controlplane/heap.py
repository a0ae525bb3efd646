"""Keep the cyclic garbage collector's pauses short as the mesh grows, and out of write bursts.

A full (generation 2) collection walks every tracked object: at a thousand nodes (pydantic
models, snapshots, protobufs) that is a ~200 ms pause of the whole process, the event loop
included, every few dozen writes: it was most of the API's p99 at 1,000 nodes. What a publish
leaves behind is long-lived (the served config), so after each one everything tracked is frozen
(`gc.freeze`, O(1)): collections then skip it. Frozen objects are still freed by reference
counting; only garbage cycles among them wait for a full collection (unfreeze, collect).

When that runs matters more than how often: run every 1,000 publishes, it landed inside write
bursts, a ~200 ms stall of every write, read and xDS push (one in each 30-write sample of
`bench.api_scale` at 1,000 nodes). So it runs once the plane has been idle for `QUIET` seconds
(no publish), on the event loop; under writes that never pause for that long it is forced every
`FORCE_EVERY` publishes, so what waits for it stays bounded. Little does: a write's own cycles
are avoided (controlplane/incremental.py's recording view held the previous model in one,
~55 objects, ~32 KiB a write at 1,000 nodes); measured in process at 1,000 nodes, a full
collection after 1,000 updates found 0 unreachable objects, and over HTTP each request leaves ~7
(uvicorn's transport, ~0.6 KiB), so ~6 MB by the forced collection.

Young collections are made rarer too (`YOUNG_THRESHOLD` allocations instead of CPython's 700): a
push to 10,000 ADS streams keeps tens of thousands of objects in flight (futures, handles,
responses waiting for their send or their ACK), and at 700 they were walked again and again and
promoted, each generation-1 collection walking them for ~16 ms: 0.85 s of collections over 3
pushes, ~15% of the loop's time, against 0.15 s at 20,000 (bench.xds_push, 10,000 streams).
What dies young is freed by reference counting either way; only cycles wait a little longer.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

QUIET = 3.0  # seconds without a publish before the full collection runs
FORCE_EVERY = 10_000  # publishes: never idle that long, collect anyway (~100 s at 100 writes/s)
YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython: 700)

# call_later(delay, callback) -> a handle; asyncio's loop.call_later in production.
Scheduler = Callable[[float, Callable[[], None]], object]


def _full_collection() -> None:
    gc.unfreeze()
    gc.collect()


class HeapKeeper:
    """`after_publish` is called on the event loop after each publish (publisher.on_published)."""

    def __init__(
        self,
        quiet: float = QUIET,
        force_every: int = FORCE_EVERY,
        clock: Callable[[], float] = time.monotonic,
        call_later: Scheduler | None = None,
        collect: Callable[[], None] = _full_collection,
        young: int = YOUNG_THRESHOLD,
    ) -> None:
        self.quiet, self.force_every = quiet, force_every
        self._clock, self._call_later, self._collect = clock, call_later, collect
        self._since_full = 0  # publishes since the last full collection
        self._last = 0.0  # when the last publish was
        self._armed = False  # an idle check is scheduled
        first, middle, old = gc.get_threshold()
        if first:  # 0: the collector is off by threshold; leave that choice alone
            gc.set_threshold(max(first, young), middle, old)

    def after_publish(self) -> None:
        self._since_full += 1
        self._last = self._clock()
        if self._since_full >= self.force_every:
            self.collect_now()  # never idle for that long: do not let the cycles pile up
        elif not self._armed:
            self._schedule(self.quiet)
        gc.freeze()

    def collect_now(self) -> None:
        self._since_full = 0
        self._collect()
        gc.freeze()  # what survived is long-lived too

    def _schedule(self, delay: float) -> None:
        # One timer per quiet period, re-armed when it fires early: not one per publish.
        call_later = self._call_later or _loop_call_later()
        if call_later is not None:  # no event loop (offline use): the forced collection only
            call_later(delay, self._idle)
            self._armed = True

    def _idle(self) -> None:
        self._armed = False
        if self._since_full == 0:
            return
        waited = self._clock() - self._last
        if waited < self.quiet:
            self._schedule(self.quiet - waited)  # a publish came meanwhile: wait its quiet period
        else:
            self.collect_now()


def _loop_call_later() -> Scheduler | None:
    try:
        return asyncio.get_running_loop().call_later
    except RuntimeError:
        return None
