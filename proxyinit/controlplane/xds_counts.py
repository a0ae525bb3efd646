"""The per-message xDS metrics as plain numbers, turned into Prometheus series only when scraped.

Every ADS request and response of 10,000 streams passes through `XdsMetrics` (metrics.py): a
prometheus_client child per update (a label lookup, a lock, a float box) cost ~10% of the
server's loop in a fan-out. Here the hot path adds to ints in dicts, on the server's loop, and
`XdsCollector` (in the plane's registry, where the prometheus_client objects used to be) builds
the same series, with the same names, help, labels, values and `_created` times, at scrape time.
The scrape runs on the same loop (metrics_http.py), so nothing is shared across threads.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

PUSHES = ("proxyinit_xds_pushes", "DiscoveryResponses sent, by type (CDS, EDS, LDS, RDS)")
REQUESTS = (
    "proxyinit_xds_requests",
    "DiscoveryRequests received, by type and kind (subscribe, ack, nack, stale, unknown_type)",
)
PUSH_ACK = (
    "proxyinit_xds_push_ack_seconds",
    "Time from sending a DiscoveryResponse to Envoy's ACK of its nonce, by type",
)


class Latencies:
    """One histogram series: a count per bucket (not cumulative: one increment per sample)."""

    __slots__ = ("counts", "created", "sum")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * (buckets + 1)  # the last one: above every bound (+Inf only)
        self.sum = 0.0
        self.created = time.time()


class XdsCounts:
    """Loop-local totals since the plane started; a series exists once it was first counted,
    as a prometheus_client child exists once `.labels()` made it."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.pushes: dict[str, list] = {}  # type -> [count, created]
        self.requests: dict[tuple[str, str], list] = {}  # (type, kind) -> [count, created]
        self.push_ack: dict[str, Latencies] = {}  # type -> latencies

    def push(self, short: str, sent: int) -> None:
        _add(self.pushes, short, sent)

    def request(self, short: str, kind: str) -> None:
        _add(self.requests, (short, kind), 1)

    def ack_latency(self, short: str, seconds: float) -> None:
        series = self.push_ack.get(short)
        if series is None:
            series = self.push_ack[short] = Latencies(len(self.buckets))
        # `le` buckets: a sample equal to a bound counts in that bound's bucket.
        series.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        series.sum += seconds


def _add(counters: dict, labels, amount: int) -> None:
    """Add to one counter series: [count, created], created when first counted."""
    entry = counters.get(labels)
    if entry is None:
        entry = counters[labels] = [0, time.time()]
    entry[0] += amount


class XdsCollector:
    """A prometheus_client collector over `XdsCounts` (registered in the plane's registry)."""

    def __init__(self, counts: XdsCounts) -> None:
        self.counts = counts

    def describe(self) -> list[Metric]:
        return self._families()

    def collect(self) -> Iterator[Metric]:
        pushes, requests, push_ack = self._families()
        counts = self.counts
        for short, (value, created) in list(counts.pushes.items()):
            pushes.add_metric([short], value, created=created)
        for labels, (value, created) in list(counts.requests.items()):
            requests.add_metric(list(labels), value, created=created)
        bounds = [floatToGoString(b) for b in counts.buckets] + ["+Inf"]
        for short, series in list(counts.push_ack.items()):
            cumulative, total = [], 0
            for bound, count in zip(bounds, series.counts, strict=True):
                total += count
                cumulative.append((bound, total))
            push_ack.add_metric([short], cumulative, series.sum)
            # HistogramMetricFamily takes no `created`: the sample a Histogram child adds.
            push_ack.samples.append(
                Sample(f"{PUSH_ACK[0]}_created", {"type": short}, series.created)
            )
        yield from (pushes, requests, push_ack)

    @staticmethod
    def _families() -> list[Metric]:
        return [
            CounterMetricFamily(*PUSHES, labels=["type"]),
            CounterMetricFamily(*REQUESTS, labels=["type", "kind"]),
            HistogramMetricFamily(*PUSH_ACK, labels=["type"]),
        ]
