"""The clientTokens of the writes of the last 15 minutes, per resource.

A signed request can be replayed unchanged while its signature is valid (15 minutes, as on AWS).
The record remembers only the token of the write that made its current version, so a replayed
older update (token A, after an update with token B) would revert B, and a replayed create would
recreate a resource deleted since. Remembering every token of the window closes both: a replay
gets the answer its original got and writes nothing.

In memory: after a restart only the last token of each record is known again (it is stored
with it). Bounded: at most `limit` entries, the oldest forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from proxyinit.store.base import Key, Record
from proxyinit.store.errors import Conflict

WINDOW_SECONDS = 15 * 60  # sigv4.MAX_SKEW_SECONDS: a replay is refused after that anyway


class RecentTokens:
    def __init__(
        self, clock: Callable[[], float], window: float = WINDOW_SECONDS, limit: int = 100_000
    ):
        self.clock, self.window, self.limit = clock, window, limit
        self._seen: OrderedDict[tuple[Key, str], tuple[str, Record, float]] = OrderedDict()

    def replay(self, key: Key, token: str, request: str, describe: str) -> Record | None:
        """The record an earlier request with this token answered, or None if there was none.
        Conflict if the token was used for another request on this resource."""
        if not token:
            return None
        self._forget_old()
        seen = self._seen.get((key, token))
        if seen is None:
            return None
        digest, record, _ = seen
        if digest != request:
            raise Conflict(
                f"clientToken {token!r} was already used for another request on {describe}"
            )
        return record

    def remember(self, key: Key, token: str, request: str, record: Record) -> None:
        if not token:
            return
        self._seen[(key, token)] = (request, record, self.clock())
        self._seen.move_to_end((key, token))
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)

    def _forget_old(self) -> None:
        horizon = self.clock() - self.window
        while self._seen and next(iter(self._seen.values()))[2] < horizon:
            self._seen.popitem(last=False)
