"""Send GET requests and print one line per response: `<monotonic seconds> <color|ERR:reason>`.

Runs inside the client namespace: `python -m proxyinit.lab.load HOST PORT PATH --count N
[--concurrency C] [--until-not white]`. Each worker keeps one HTTP/1.1 connection alive.
CLOCK_MONOTONIC is machine-wide on Linux, so the caller can compare our timestamps with its own.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time


class Sender:
    def __init__(
        self, host: str, port: int, path: str, budget: int, stop_unless: str | None
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.budget, self.stop_unless = budget, stop_unless
        self.lock = threading.Lock()
        self.done = threading.Event()

    def take(self) -> bool:
        with self.lock:
            if self.budget <= 0 or self.done.is_set():
                return False
            self.budget -= 1
            return True

    def report(self, outcome: str) -> None:
        with self.lock:
            sys.stdout.write(f"{time.monotonic():.6f} {outcome}\n")
            sys.stdout.flush()
            if (
                self.stop_unless is not None
                and outcome != self.stop_unless
                and not outcome.startswith("ERR")
            ):
                self.done.set()

    def worker(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        while self.take():
            try:
                conn.request("GET", self.path)
                body = conn.getresponse().read()
                self.report(json.loads(body).get("color", "ERR:no-color"))
            except (OSError, http.client.HTTPException, ValueError) as err:
                self.report(f"ERR:{type(err).__name__}")
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("path")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--until-not", default=None, help="stop early at the first other answer than this"
    )
    args = parser.parse_args()
    sender = Sender(args.host, args.port, args.path, args.count, args.until_not)
    threads = [threading.Thread(target=sender.worker) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
