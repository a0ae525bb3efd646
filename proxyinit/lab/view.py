"""How the demo shows progress: a live terminal view (rich) on a TTY, plain lines otherwise."""

from __future__ import annotations

import sys
from collections import Counter

COLORS = {"white": "white", "blue": "blue", "red": "red"}
BAR = 40


def bar(fraction: float) -> str:
    filled = round(fraction * BAR)
    return "#" * filled + "." * (BAR - filled)


class PlainView:
    """For CI and pipes: a line per phase, a progress line every 10%, the final counts."""

    def __init__(self, out=None) -> None:
        self.out = out or sys.stdout
        self.next_mark = 0

    def write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        self.write(f"* {text}")

    def phase(self, title: str, total: int) -> None:
        self.next_mark = max(1, total // 10) if total else 1
        self.write(f"== {title}")

    def progress(self, counts: Counter, done: int, total: int) -> None:
        if done >= self.next_mark:
            self.next_mark += max(1, total // 10) if total else self.next_mark
            self.write(
                f"   {done} responses: " + ", ".join(f"{c}={n}" for c, n in sorted(counts.items()))
            )

    def done(self, counts: Counter) -> None:
        total = sum(counts.values()) or 1
        for color, n in sorted(counts.items()):
            self.write(f"   {color:<6} {n:>6}  {bar(n / total)} {n / total:6.1%}")

    def summary(self, result, configured: dict[str, float]) -> None:
        self.write("== summary")
        for line in summary_lines(result, configured):
            self.write(f"   {line}")


def summary_lines(result, configured: dict[str, float]) -> list[str]:
    lines = [
        f"requests sent: {result.requests_sent} (gateway Envoy routed {result.envoy_requests})",
        f"first gateway response {result.started_to_first_response:.2f}s after start",
        f"route update -> first blue/red response: {result.update_to_first_shift * 1000:.0f} ms",
    ]
    lines += [
        f"{c}: observed {result.share(c):.1%}, configured {w:.0%}" for c, w in configured.items()
    ]
    lines.append("mesh OK" if result.ok else "mesh FAILED: " + "; ".join(result.problems))
    return lines


class LiveView(PlainView):
    """A live table with counts and bars per color and a progress bar (rich, on a TTY)."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console

        self.console = Console()
        self.live = None
        self.title = ""

    def note(self, text: str) -> None:
        self.done(Counter())  # a note (e.g. after Ctrl-C) ends any live table first
        self.console.print(f"[bold]•[/bold] {text}")

    def phase(self, title: str, total: int) -> None:
        from rich.live import Live

        self.title = title
        self.live = Live(
            self.render(Counter(), 0, total), console=self.console, refresh_per_second=12
        )
        self.live.start()

    def render(self, counts: Counter, done: int, total: int):
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table(title=self.title, title_justify="left", show_header=False, box=None)
        # total 0: open-ended (sent until something happens); the bar pulses instead.
        table.add_row(
            "progress",
            ProgressBar(total=total or None, completed=done, width=BAR),
            f"{done}/{total}" if total else f"{done}",
        )
        all_done = sum(counts.values()) or 1
        for color, n in sorted(counts.items()):
            style = COLORS.get(color, "yellow")
            table.add_row(
                f"[{style}]{color}[/{style}]",
                f"[{style}]{bar(n / all_done)}[/{style}]",
                f"{n} ({n / all_done:.1%})",
            )
        return table

    def progress(self, counts: Counter, done: int, total: int) -> None:
        if self.live is not None:
            self.live.update(self.render(counts, done, total))

    def done(self, counts: Counter) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def summary(self, result, configured: dict[str, float]) -> None:
        self.console.rule("summary")
        for line in summary_lines(result, configured):
            self.console.print(f"  {line}")


def make_view():
    if sys.stdout.isatty():
        try:
            return LiveView()
        except ImportError:
            pass
    return PlainView()
