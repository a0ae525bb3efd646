"""Scraping a control plane's `--metrics` endpoint over real HTTP, as Prometheus does."""

from __future__ import annotations

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


class Scrape(dict):
    """{(sample name, frozenset of label items): value} of one scrape."""

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 for a series not exposed (yet)."""
        return self.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """Sum over every series of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, items), v in self.items() if n == name and wanted <= items)


def scrape(port: int, host: str = "127.0.0.1") -> Scrape:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain"), response.headers
        text = response.read().decode()
    result = Scrape()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            result[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return result


def scrape_when(port: int, holds, timeout: float = 5.0) -> Scrape:
    """Scrape until `holds(scrape)`: a server counts a request just after answering it."""
    deadline = time.monotonic() + timeout
    while True:
        result = scrape(port)
        if holds(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.02)
