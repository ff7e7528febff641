"""A rich progress bar for training: optimizer steps, running loss, last and best dev macro-F1."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from flames.progress import LiveProgress
from flames.training.events import TrainEvent

LOSS_SMOOTHING = 0.9
"""Weight of the previous value in the displayed loss (an exponential moving average over steps)."""


def _f1(dev: dict[str, object] | None) -> float | None:
    overall = (dev or {}).get("overall")
    value = overall.get("macro_f1") if isinstance(overall, dict) else None
    return float(value) if isinstance(value, int | float) else None


class TrainProgress(LiveProgress):
    """`with TrainProgress(console) as bar: train_scorer(..., on_event=bar)`; prints one line per evaluation."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stage]}"),
            TextColumn("loss {task.fields[loss]}"), TextColumn("dev F1 {task.fields[dev]} (best {task.fields[best]})"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console,
        )  # fmt: skip
        self._task = self._progress.add_task("training", total=None, stage="", loss="–", dev="–", best="–")
        self._loss: float | None = None
        self._best: float | None = None

    def __call__(self, event: TrainEvent) -> None:
        if event.kind == "start":
            self._progress.update(self._task, total=event.total_steps, completed=event.step)
        elif event.kind == "step" and event.loss is None:  # a step without a loss (tfidf: one head fitted)
            self._progress.update(self._task, completed=event.step, stage=escape(event.message))
        elif event.kind == "step" and event.loss is not None:
            self._loss = (
                event.loss if self._loss is None else LOSS_SMOOTHING * self._loss + (1 - LOSS_SMOOTHING) * event.loss
            )
            self._progress.update(
                self._task, completed=event.step, stage=f"epoch {event.epoch + 1}", loss=f"{self._loss:.4f}"
            )
        elif event.kind == "eval":
            f1 = _f1(event.dev)
            if f1 is not None and (self._best is None or f1 > self._best):
                self._best = f1
            text = "–" if f1 is None else f"{f1:.3f}"
            self._progress.update(self._task, dev=text, best="–" if self._best is None else f"{self._best:.3f}")
            accuracy = (event.dev or {}).get("overall", {}).get("accuracy")
            acc = f", accuracy {accuracy:.3f}" if isinstance(accuracy, float) else ""
            mark = " (best so far, saved)" if event.improved else ""
            self._progress.console.print(f"step {event.step}: dev macro-F1 {text}{acc}{mark}", highlight=False)
        elif event.kind == "note":
            self._progress.console.print(escape(event.message), highlight=False)
