"""A rich progress bar for long runs of independent units: done/total, rate, ETA, failures, answers withheld
(blocked or no answer) and tokens.

Updating it costs a few microseconds, so it can be advanced once per response even at hundreds per second.
`LiveProgress` is what every progress display of the tool shares (this one, training's): shown while a `with`
block runs.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f}/s" if speed else "–/s", style="progress.data.speed")


class LiveProgress:
    """A rich `Progress` (`_progress`, set by the subclass) shown while a `with` block runs: started on entry,
    stopped on exit whatever happens, so the terminal is left clean."""

    _progress: Progress

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()


class RunProgress(LiveProgress):
    """`with RunProgress(total, "qwen") as bar: bar.advance(ok=True, tokens=120)`."""

    def __init__(self, total: int, description: str, console: Console | None = None, withheld: bool = False) -> None:
        """`withheld`: also show how many units ended without an answer (blocked, no answer): collection."""
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("[red]failed {task.fields[failed]}"),
            *([TextColumn("[yellow]blocked/no answer {task.fields[withheld]}")] if withheld else []),
            TextColumn("tokens {task.fields[tokens]:,}"),
            console=console,
            speed_estimate_period=60,
        )
        self._task = self._progress.add_task(description, total=total, failed=0, withheld=0, tokens=0)
        self.failed = 0
        self.withheld = 0
        self.tokens = 0

    def advance(self, *, ok: bool, tokens: int = 0, withheld: bool = False) -> None:
        """One unit done: `ok` False for a failure; `withheld` for a final outcome without an answer."""
        self.failed += not ok
        self.withheld += withheld
        self.tokens += tokens
        self._progress.update(self._task, advance=1, failed=self.failed, withheld=self.withheld, tokens=self.tokens)
