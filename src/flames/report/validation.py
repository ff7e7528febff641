"""A validation report as a terminal table, Markdown or JSON: one builder of rows, several renderers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Literal

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from flames.agreement import Estimate
from flames.report.text import md_escape
from flames.taxonomy import bilingual
from flames.validation import GroupValidation, ValidationReport
from flames.validation.report import PairedAccuracy, ScorerValidation

ValidationFormat = Literal["table", "json", "markdown", "html"]
COLUMNS = (
    "", "n", "unscored", "accuracy [CI]", "macro-F1", "κ", "κ linear", "sens. / spec.", "HR human / scorer",
    "majority", "annotators κ",
)  # fmt: skip


def pct(x: float | None) -> str:
    """A fraction as a percent with one decimal (— for None)."""
    return "—" if x is None else f"{100 * x:.1f}%"


def num(x: float | None) -> str:
    """A statistic with three decimals (— for None)."""
    return "—" if x is None else f"{x:.3f}"


def ci(e: Estimate, percent: bool = True) -> str:
    """An estimate with its interval: `72.7% [61.0%, 83.1%]` or `0.512 [0.401, 0.620]`."""
    fmt = pct if percent else num
    if e.value is None:
        return "—"
    return fmt(e.value) + (f" [{fmt(e.low)}, {fmt(e.high)}]" if e.low is not None else "")


def cells(g: GroupValidation) -> list[str]:
    """The figures of one group, in COLUMNS order (after the label)."""
    ia = g.inter_annotator
    return [
        str(g.n), str(g.n_unscored), ci(g.accuracy), num(g.macro_f1), num(g.kappa.value), num(g.kappa_linear.value),
        f"{pct(g.sensitivity)} / {pct(g.specificity)}", f"{pct(g.human_harmless_rate)} / {pct(g.scorer_harmless_rate)}",
        f"{pct(g.majority_accuracy)} ({g.majority_label})" if g.majority_label else "—",
        num(ia.kappa.value) if ia else "—",
    ]  # fmt: skip


def groups(v: ScorerValidation) -> Iterator[tuple[str, str, GroupValidation]]:
    """(section, label, group): overall, each dimension, each generating model."""
    yield "overall", "Overall 总体", v.overall
    for d, g in v.dimensions.items():
        yield "dimension", bilingual(d), g
    for m, g in v.models.items():
        yield "model", f"model {m}", g


def notes(report: ValidationReport) -> list[str]:
    """Caveats every format prints under the figures."""
    out = []
    info = report.labels_info
    if info.get("notes"):
        out.append(f"labels: {info['notes']}")
    for v in report.scorers:
        if v.scorer.source == "leave-one-model-out":
            folds = v.scorer.config.get("folds", [])
            shared = sum(f["shared_prompts"] for f in folds)
            out.append(
                f"{v.scorer.name}: leave-one-model-out over {len(folds)} models; each `model` row is scored by a scorer"
                f" trained without that model's labels ({shared} held-out prompts were answered in training too)"
            )
    if report.scorers and report.scorers[0].overall.binary_labels_only:
        out.append("the labels never use the score 2: these figures cannot validate the 3-vs-2 boundary")
    out.append(
        f"intervals: {int(100 * report.bootstrap.confidence)}% percentile bootstrap over prompts"
        f" ({report.bootstrap.n_boot} resamples, seed {report.bootstrap.seed}); unscored labels are counted apart,"
        " never as right or wrong; sensitivity/specificity take harmless (3) as the positive class"
    )
    return out


def _confusion_table(title: str, g: GroupValidation) -> Table:
    t = Table(title=escape(title), title_justify="left")
    t.add_column("human \\ scorer")
    for c in g.labels:
        t.add_column(str(c), justify="right")
    for c, row in zip(g.labels, g.confusion, strict=True):
        t.add_row(str(c), *map(str, row))
    return t


SPLIT = 7
"""The terminal shows COLUMNS in two tables (agreement, then the harmless view) so each fits 80 columns."""


def rich_tables(report: ValidationReport) -> Group:
    """The terminal form: two tables per scorer, its confusion matrices, then the paired comparisons."""
    parts: list[Table] = []
    for v in report.scorers:
        for title, first, last in (("agreement 一致性", 1, SPLIT), ("harmless view 无害视角", SPLIT, len(COLUMNS))):
            t = Table(title=escape(f"scorer {v.scorer.name} vs human labels · {title}"), title_justify="left")
            t.add_column("group 分组")
            for name in COLUMNS[first:last]:
                t.add_column(name, justify="right", no_wrap=True)
            previous = ""
            for section, label, g in groups(v):
                if section != previous and previous:
                    t.add_section()
                previous = section
                style = "bold" if section == "overall" else None
                t.add_row(escape(label), *cells(g)[first - 1 : last - 1], style=style)
            parts.append(t)
        for _, label, g in list(groups(v))[: 1 + len(v.dimensions)]:
            parts.append(_confusion_table(f"confusion · {label}", g))
    if report.comparisons:
        parts.append(_comparison_table(report.comparisons))
    return Group(*parts)


def _comparison_table(comparisons: list[PairedAccuracy]) -> Table:
    t = Table(title="paired comparison of accuracies (B − A) 评分器配对比较", title_justify="left")
    for name in ("A", "B", "n", "accuracy A", "accuracy B", "B − A [CI]", "p (prompt-clustered)", "McNemar p"):
        t.add_column(name, justify="left" if name in ("A", "B") else "right")
    for c in comparisons:
        t.add_row(escape(c.a), escape(c.b), *comparison_cells(c))
    return t


def comparison_cells(c: PairedAccuracy) -> list[str]:
    """n, accuracy A, accuracy B, B − A with its interval (points), p-value, McNemar p."""
    diff = "—" if c.diff is None else f"{100 * c.diff:+.1f} pts [{100 * (c.diff_ci[0] or 0):+.1f}, " \
                                      f"{100 * (c.diff_ci[1] or 0):+.1f}]"  # fmt: skip
    return [str(c.n), pct(c.accuracy_a), pct(c.accuracy_b), diff, num(c.p_value), num(c.mcnemar_p)]


def to_markdown(report: ValidationReport) -> str:
    """The Markdown form (hostile scorer names escaped)."""
    lines: list[str] = []
    for v in report.scorers:
        lines += [f"### Scorer {md_escape(v.scorer.name)} vs human labels", ""]
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|---|" + "---:|" * (len(COLUMNS) - 1))
        for section, label, g in groups(v):
            name = f"**{md_escape(label)}**" if section == "overall" else md_escape(label)
            lines.append(f"| {name} | " + " | ".join(cells(g)) + " |")
        lines.append("")
        for _, label, g in list(groups(v))[: 1 + len(v.dimensions)]:
            lines += [f"Confusion · {md_escape(label)} (rows human, columns scorer)", ""]
            lines.append("| human \\\\ scorer | " + " | ".join(map(str, g.labels)) + " |")
            lines.append("|---|" + "---:|" * len(g.labels))
            lines += [f"| {c} | " + " | ".join(map(str, row)) + " |" for c, row in zip(g.labels, g.confusion,
                                                                                       strict=True)]  # fmt: skip
            lines.append("")
    if report.comparisons:
        lines += ["### Paired comparison of accuracies (B − A)", "",
                  "| A | B | n | accuracy A | accuracy B | B − A [CI] | p (prompt-clustered) | McNemar p |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for c in report.comparisons:
            lines.append(f"| {md_escape(c.a)} | {md_escape(c.b)} | " + " | ".join(comparison_cells(c)) + " |")
        lines.append("")
    lines += [f"- {md_escape(n)}" for n in notes(report)]
    return "\n".join(lines) + "\n"


def render_validation(report: ValidationReport, fmt: ValidationFormat) -> str | Group:
    """The report in one text format (`html` is written by `flames.report.validation_html`)."""
    if fmt == "json":
        return json.dumps(report.to_json(), ensure_ascii=False, indent=2)
    if fmt == "markdown":
        return to_markdown(report)
    return rich_tables(report)


def print_validation(report: ValidationReport, console: Console, fmt: ValidationFormat = "table") -> None:
    """Print the report; in table form with its notes (labels' caveats, intervals, positive class)."""
    out = render_validation(report, fmt)
    if isinstance(out, Group):
        console.print(out)
        for n in notes(report):
            console.print(f"[dim]{escape(n)}[/]")
    else:
        console.file.write(out if out.endswith("\n") else out + "\n")
