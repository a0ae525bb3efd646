"""Keep the cyclic garbage collector's pauses short as the mesh grows.

A full (generation 2) collection walks every tracked object: at a thousand nodes (pydantic
models, snapshots, protobufs) that is a ~200 ms pause of the whole process, the event loop
included, every few dozen writes: it was most of the API's p99 at 1,000 nodes. What a publish
leaves behind is long-lived (the served config), so after each one everything tracked is frozen
(`gc.freeze`, O(1)): collections then skip it. Frozen objects are still freed by reference
counting; only garbage cycles among them wait, so every `FULL_EVERY` publishes everything is
unfrozen and collected once (one pause per that many writes).
"""

from __future__ import annotations

import gc

FULL_EVERY = 1000


class HeapKeeper:
    def __init__(self, full_every: int = FULL_EVERY) -> None:
        self.full_every, self._count = full_every, 0

    def after_publish(self) -> None:
        self._count += 1
        if self._count % self.full_every == 0:
            gc.unfreeze()
            gc.collect()
        gc.freeze()
