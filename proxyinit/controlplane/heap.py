"""Keep the cyclic garbage collector's pauses short as the mesh grows.

A full (generation 2) collection walks every tracked object: at a thousand nodes (pydantic
models, snapshots, protobufs) that is a ~200 ms pause of the whole process, the event loop
included, every few dozen writes: it was most of the API's p99 at 1,000 nodes. What a publish
leaves behind is long-lived (the served config), so after each one everything tracked is frozen
(`gc.freeze`, O(1)): collections then skip it. Frozen objects are still freed by reference
counting; only garbage cycles among them wait, so every `FULL_EVERY` publishes everything is
unfrozen and collected once (one pause per that many writes).

Young collections are made rarer too (`YOUNG_THRESHOLD` allocations instead of CPython's 700): a
push to 10,000 ADS streams keeps tens of thousands of objects in flight (futures, handles,
responses waiting for their send or their ACK), and at 700 they were walked again and again and
promoted, each generation-1 collection walking them for ~16 ms: 0.85 s of collections over 3
pushes, ~15% of the loop's time, against 0.15 s at 20,000 (bench.xds_push, 10,000 streams).
What dies young is freed by reference counting either way; only cycles wait a little longer.
"""

from __future__ import annotations

import gc

FULL_EVERY = 1000
YOUNG_THRESHOLD = 20_000


class HeapKeeper:
    def __init__(self, full_every: int = FULL_EVERY, young: int = YOUNG_THRESHOLD) -> None:
        self.full_every, self._count = full_every, 0
        first, middle, old = gc.get_threshold()
        if first:  # 0: the collector is off by threshold; leave that choice alone
            gc.set_threshold(max(first, young), middle, old)

    def after_publish(self) -> None:
        self._count += 1
        if self._count % self.full_every == 0:
            gc.unfreeze()
            gc.collect()
        gc.freeze()
