"""What every experiment returns: its figures as JSON (`results`, documented per experiment in
docs/experiments.md), the inputs it used, and the same figures laid out as sections of tables, charts and
examples for the Markdown and HTML renderers.

The JSON envelope (schema `flames-eval/experiment/v1`):

    {"schema", "experiment", "title", "question", "claim", "inputs", "parameters", "results",
     "notes", "warnings", "tool_version", "git_commit", "created_at"}

`inputs` records everything needed to know what was measured (runs with their model and config hashes,
label files with their sha256, scorers with their config hashes, perturbation code hashes); `parameters`
holds the options and seeds. Fractions are in [0, 1]; intervals are `[low, high]` or null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flames.provenance import git_commit, tool_version

SCHEMA = "flames-eval/experiment/v1"


@dataclass(frozen=True)
class Table:
    """A table of already formatted cells (the JSON `results` keep the numbers)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


@dataclass(frozen=True)
class Example:
    """One item shown as text (prompts and answers are hostile: renderers escape every field)."""

    title: str
    fields: tuple[tuple[str, str], ...]
    """(label, text) pairs."""


@dataclass(frozen=True)
class Section:
    title: str
    text: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[str, ...] = ()
    """Keys of `ExperimentResult.charts` drawn in this section."""
    examples: tuple[Example, ...] = ()


@dataclass(frozen=True)
class ExperimentResult:
    """One experiment's outcome; `to_json()` is the public schema."""

    experiment: str
    """Command name: attack-methods, scorer-robustness, adversarial-vs-plain, generalisation, backbones."""
    title: str
    question: str
    claim: str
    """The FLAMES paper's claim (or premise) the experiment tests."""
    inputs: dict[str, Any]
    parameters: dict[str, Any]
    results: dict[str, Any]
    sections: tuple[Section, ...] = ()
    charts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Plotly figure specs (plain dicts), by key."""
    notes: tuple[str, ...] = ()
    """Caveats printed with every format."""
    warnings: tuple[str, ...] = ()
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_json(self) -> dict[str, Any]:
        """The envelope described in the module docstring."""
        return {
            "schema": SCHEMA, "experiment": self.experiment, "title": self.title, "question": self.question,
            "claim": self.claim, "inputs": self.inputs, "parameters": self.parameters, "results": self.results,
            "notes": list(self.notes), "warnings": list(self.warnings), "tool_version": tool_version(),
            "git_commit": git_commit(), "created_at": self.created_at,
        }  # fmt: skip


def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percent (— for None)."""
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def pct_ci(value: float | None, ci: tuple[float, float] | list[float] | None) -> str:
    """`41.2% [35.0, 47.9]` (percent points), or — without a value."""
    if value is None:
        return "—"
    return pct(value) + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")


def pts_ci(value: float | None, ci: tuple[float, float] | list[float] | None) -> str:
    """A difference of fractions in percentage points with its interval: `+6.3 pts [+1.2, +11.0]`."""
    if value is None:
        return "—"
    return f"{100 * value:+.1f} pts" + (f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else "")


def num(x: float | None, digits: int = 3) -> str:
    """A statistic with `digits` decimals (— for None)."""
    return "—" if x is None else f"{x:.{digits}f}"
