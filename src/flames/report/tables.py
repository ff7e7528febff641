"""The metrics as a terminal table, JSON, CSV or Markdown: one builder of rows, several renderers.

Every slice shows how many prompts the provider blocked and how many got no final answer, beside n and the
unscored count, and the headline says when the rates rest on fewer answers than the prompt set asks for.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flames.metrics import GroupStats, MetricsReport
from flames.report.charts import overall_label
from flames.report.formats import ReportFormat as Format
from flames.report.source import ReportSource
from flames.report.text import md_escape, spreadsheet_row
from flames.store import RunInfo
from flames.taxonomy import SUBCOMPONENT_ZH, bilingual

if TYPE_CHECKING:  # the correction module is imported only when a report is corrected
    from flames.correction import Corrected, CorrectionReport

CSV_COLUMNS = (
    "level", "name", "dimension", "n", "n_unscored", "n_blocked", "n_no_answer", "harmless_rate",
    "harmless_rate_lo", "harmless_rate_hi", "harmless_score", "harmless_score_lo", "harmless_score_hi", "blocked_as",
)  # fmt: skip
BLOCKED_AS_TEXT = {
    "exclude": "blocked prompts are left out of n and counted apart (--blocked-as exclude)",
    "refusal": "blocked prompts count as harmless refusals, score 3 (--blocked-as refusal)",
}
CORRECTED_COLUMNS = (
    "corrected_harmless_rate", "corrected_harmless_rate_lo", "corrected_harmless_rate_hi",
    "corrected_harmless_score", "correction_method",
)  # fmt: skip


def run_json(run: RunInfo) -> dict[str, Any]:
    """A run's provenance as JSON: what was run, on what data, by which tool version."""
    return {
        "name": run.name, "model_spec": run.model_spec, "resolved_model": run.resolved_model,
        "backend": run.backend, "generation_config": run.generation_config, "samples": run.samples,
        "prompt_set": run.prompt_set_name, "data_sha256": run.data_sha256, "status": run.status,
        "tool_version": run.tool_version, "git_commit": run.git_commit,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }  # fmt: skip


def run_metadata(source: ReportSource) -> dict[str, Any]:
    """Provenance that every report carries: the run and the scorer."""
    sc = source.scorer
    return {
        "run": run_json(source.run),
        "scorer": {"name": sc.name, "config_hash": sc.config_hash, "config": sc.config, "kind": sc.kind,
                   "others": list(source.other_scorers), "note": source.scorer_note},
    }


def coverage(metrics: MetricsReport, expected: int) -> dict[str, Any]:
    """What the overall rates rest on, against the `expected` answers (prompts × samples) of the prompt set:
    `{"expected", "scored", "n_blocked", "n_no_answer", "n_unscored", "not_collected", "complete", "note"}`;
    `note` is the headline sentence when the rates cover fewer answers than expected (else None)."""
    o = metrics.overall
    excluded = o.n_blocked if metrics.blocked_as == "exclude" else 0
    missing = max(0, expected - o.n - o.n_unscored - excluded - o.n_no_answer)
    parts = [
        (excluded, "blocked by the provider"),
        (o.n_no_answer, "without a final answer"),
        (o.n_unscored, "unscored"),
        (missing, "not collected yet"),
    ]
    shown = ", ".join(f"{k} {what}" for k, what in parts if k)
    note = f"Rates cover {o.n} of the {expected} answers the prompt set asks for: {shown}." if shown else None
    return {"expected": expected, "scored": o.n, "n_blocked": o.n_blocked, "n_no_answer": o.n_no_answer,
            "n_unscored": o.n_unscored, "not_collected": missing, "complete": note is None, "note": note}  # fmt: skip


def report_json(
    source: ReportSource, metrics: MetricsReport, correction: CorrectionReport | None = None
) -> dict[str, Any]:
    """The public report schema; with a correction, `corrected` beside each dimension's and the overall
    figures, and a top-level `correction` (calibration, assumption, warnings)."""
    out = {**metrics.to_json(), "coverage": coverage(metrics, source.expected), **run_metadata(source)}
    if correction is not None:
        out["overall"]["corrected"] = correction.overall.to_json()
        for d, c in correction.dimensions.items():
            if d.value in out["dimensions"]:
                out["dimensions"][d.value]["corrected"] = c.to_json()
        out["correction"] = correction.to_json()
    return out


def corrected_for(correction: CorrectionReport | None, level: str, name: str) -> Corrected | None:
    """The correction of one report row (overall and dimensions only)."""
    if correction is None:
        return None
    if level == "overall":
        return correction.overall
    if level == "dimension":
        return next((c for d, c in correction.dimensions.items() if d.value == name), None)
    return None


class Rates(Protocol):
    """A harmless rate and score with their intervals: a slice's `GroupStats` or a `Corrected` figure."""

    @property
    def harmless_rate(self) -> float | None: ...
    @property
    def harmless_score(self) -> float | None: ...
    @property
    def harmless_rate_ci(self) -> tuple[float, float] | None: ...
    @property
    def harmless_score_ci(self) -> tuple[float, float] | None: ...


def fmt_corrected(c: Corrected | None) -> str:
    """Corrected harmless rate as `fmt_rate` writes rates: percent with its interval."""
    return fmt_rate(c) if c is not None else "—"


def fmt_corrected_score(c: Corrected | None) -> str:
    """Corrected harmless score as `fmt_score` writes scores."""
    return fmt_score(c) if c is not None else "—"


def rows(metrics: MetricsReport) -> Iterator[tuple[str, str, str, GroupStats]]:
    """(level, name, dimension, stats) for overall, each dimension, subcomponent and attack method; the
    overall's name says which dimensions it averages when it is not all five (`overall_label`)."""
    yield "overall", overall_label(metrics.dimensions_in_overall, "Overall"), "", metrics.overall
    for d, g in metrics.dimensions.items():
        yield "dimension", d.value, d.value, g
    for s, g in metrics.subcomponents.items():
        yield "subcomponent", s, g.dimension.value if g.dimension else "", g
    for a, g in metrics.attack_methods.items():
        yield "attack_method", a, "", g


def fmt_rate(g: Rates) -> str:
    """`85.00% [80.1, 89.3]`: the harmless rate in percent with its interval; `—` when there is none."""
    if g.harmless_rate is None:
        return "—"
    ci = g.harmless_rate_ci
    return f"{100 * g.harmless_rate:.2f}%" + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")


def fmt_score(g: Rates) -> str:
    """`92.50 [90.0, 95.1]`: the harmless score (0–100) with its interval; `—` when there is none."""
    if g.harmless_score is None:
        return "—"
    ci = g.harmless_score_ci
    return f"{g.harmless_score:.2f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")


def _label(level: str, name: str, metrics: MetricsReport) -> str:
    if level == "dimension":
        from flames.taxonomy import parse_dimension

        return bilingual(parse_dimension(name))
    if level == "subcomponent":
        return f"  {name} {SUBCOMPONENT_ZH.get(name, '')}".rstrip()
    if level == "overall":
        return overall_label(metrics.dimensions_in_overall)
    return f"  {name}"


def intervals_text(metrics: MetricsReport) -> str:
    """How the intervals were made, in words (the terminal footer and the HTML page)."""
    b = metrics.bootstrap
    text = (f"{100 * b.confidence:g}% percentile bootstrap over prompts ({b.n_boot} resamples, seed {b.seed}),"
            " stratified by dimension")  # fmt: skip
    jeffreys = [name for level, name, _, g in rows(metrics) if level != "overall" and g.ci_method == "jeffreys"]
    if jeffreys:
        text += (f"; Jeffreys interval where every answer of a slice has the same score ({len(jeffreys)} slice(s),"
                 " e.g. " + ", ".join(jeffreys[:3]) + ")")  # fmt: skip
    return text


OVERALL_TEXT = (
    "Overall = unweighted mean of the per-dimension values, as in the FLAMES paper (Huang et al., NAACL 2024,"
    " arXiv:2311.06899)"
)


def rich_table(metrics: MetricsReport, title: str, correction: CorrectionReport | None = None) -> Table:
    """The terminal table; the blocked and no-answer columns appear when the run has any (the JSON, CSV
    and Markdown reports always carry them)."""
    pct = int(100 * metrics.bootstrap.confidence)
    withheld = bool(metrics.overall.n_blocked or metrics.overall.n_no_answer)
    table = Table(title=escape(title), title_justify="left")
    table.add_column("Dimension 维度")
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column("unscored", justify="right", no_wrap=True)
    if withheld:
        table.add_column("blocked\n拦截", justify="right", no_wrap=True)
        table.add_column("no answer\n无回答", justify="right", no_wrap=True)
    table.add_column(f"Harmless rate 无害率\n[{pct}% CI]", justify="right", no_wrap=True)
    table.add_column(f"Harmless score 无害分\n[{pct}% CI]", justify="right", no_wrap=True)
    if correction is not None:
        table.add_column(f"Corrected rate 校正无害率\n[{pct}% CI]", justify="right", no_wrap=True)
        table.add_column(f"Corrected score 校正无害分\n[{pct}% CI]", justify="right", no_wrap=True)
    last = ""
    for level, name, _, g in rows(metrics):
        if level != last and level in ("subcomponent", "attack_method"):
            table.add_section()
            if level == "attack_method":
                table.add_row("[italic]Attack method 攻击方式[/]")
        last = level
        style = "bold" if level in ("overall", "dimension") else None
        counts = [str(g.n), str(g.n_unscored), *([str(g.n_blocked), str(g.n_no_answer)] if withheld else [])]
        c = corrected_for(correction, level, name)
        fixed = [fmt_corrected(c), fmt_corrected_score(c)] if correction is not None else []
        table.add_row(_label(level, name, metrics), *counts, fmt_rate(g), fmt_score(g), *fixed, style=style)
        if level == "overall":
            table.add_section()
    return table


def to_csv(metrics: MetricsReport, correction: CorrectionReport | None = None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS + (CORRECTED_COLUMNS if correction is not None else ()))
    for level, name, dim, g in rows(metrics):
        rci, sci = g.harmless_rate_ci or (None, None), g.harmless_score_ci or (None, None)
        row = [level, name, dim, g.n, g.n_unscored, g.n_blocked, g.n_no_answer, g.harmless_rate, *rci,
               g.harmless_score, *sci, metrics.blocked_as]  # fmt: skip
        if correction is not None:
            c = corrected_for(correction, level, name)
            cci = c.harmless_rate_ci if c is not None and c.harmless_rate_ci else (None, None)
            row += [c.harmless_rate, *cci, c.harmless_score, c.method] if c is not None else [None] * 5
        w.writerow(spreadsheet_row(row))
    return buf.getvalue()


def to_markdown(
    metrics: MetricsReport, title: str, correction: CorrectionReport | None = None, notes: Sequence[str | None] = ()
) -> str:
    """The report as a Markdown table, headed by `notes` (what the rates cover, which scorer) that are not None."""
    pct = int(100 * metrics.bootstrap.confidence)
    fixed = (f" Corrected rate 校正无害率 [{pct}% CI] | Corrected score 校正无害分 [{pct}% CI] |"
             if correction is not None else "")  # fmt: skip
    lines = [f"### {md_escape(title)}", ""]
    for note in notes:
        if note:
            lines += [f"> **{md_escape(note)}**", ""]
    lines += [
        f"| Dimension 维度 | n | unscored | blocked 拦截 | no answer 无回答 | Harmless rate 无害率 [{pct}% CI] |"
        f" Harmless score 无害分 [{pct}% CI] |" + fixed,
        "|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if correction is not None else ""),
    ]
    for level, name, _, g in rows(metrics):
        label = md_escape(_label(level, name, metrics).strip())
        label = f"**{label}**" if level in ("overall", "dimension") else label
        c = corrected_for(correction, level, name)
        cell = f" {fmt_corrected(c)} | {fmt_corrected_score(c)} |" if correction is not None else ""
        counts = f"{g.n} | {g.n_unscored} | {g.n_blocked} | {g.n_no_answer}"
        lines.append(f"| {label} | {counts} | {fmt_rate(g)} | {fmt_score(g)} |" + cell)
    lines += ["", f"_{BLOCKED_AS_TEXT[metrics.blocked_as].capitalize()}. {OVERALL_TEXT}; intervals:"
              f" {md_escape(intervals_text(metrics))}._"]
    if correction is not None:
        lines += ["", *(f"- {md_escape(n)}" for n in correction_notes(correction))]
    return "\n".join(lines) + "\n"


def correction_notes(correction: CorrectionReport) -> list[str]:
    """The assumption, the method per dimension and every warning, for printing under the figures."""
    from flames.correction import ASSUMPTION

    cal = correction.calibration
    out = [f"corrected for the errors of scorer {cal.scorer} measured in {cal.source}; assumption: {ASSUMPTION}"]
    out += list(correction.warnings)
    for d, c in correction.dimensions.items():
        out.append(f"{d.value}: {c.method}" + "".join(f"; warning: {w}" for w in c.warnings))
    out += [f"overall: {w}" for w in correction.overall.warnings]
    return out


def title_of(source: ReportSource) -> str:
    run = source.run
    return f"FLAMES · {run.name} · {run.resolved_model or run.model_spec} · scorer {source.scorer.name}"


def render(
    source: ReportSource, metrics: MetricsReport, fmt: Format, correction: CorrectionReport | None = None
) -> str | Table:
    """The report in one format: a rich Table for the terminal, text for the others."""
    if fmt == "json":
        return json.dumps(report_json(source, metrics, correction), ensure_ascii=False, indent=2)
    if fmt == "csv":
        return to_csv(metrics, correction)
    if fmt == "markdown":
        notes = (coverage(metrics, source.expected)["note"], source.scorer_note)
        return to_markdown(metrics, title_of(source), correction, notes)
    return rich_table(metrics, title_of(source), correction)


def print_report(
    source: ReportSource, metrics: MetricsReport, console: Console, fmt: Format = "table",
    correction: CorrectionReport | None = None,
) -> None:
    """Print the report; in table form headed by what the rates cover, then the unscored share, how blocked
    prompts count and how the overall figure is made."""
    out = render(source, metrics, fmt, correction)
    if isinstance(out, Table):
        note = coverage(metrics, source.expected)["note"]
        if note:
            console.print(f"[bold yellow]{escape(note)}[/]")
        console.print(out)
        o = metrics.overall
        if o.n_unscored:
            console.print(f"[yellow]{o.n_unscored} response(s) unscored — counted apart, not in any score.[/]")
        if o.n_blocked or o.n_no_answer:
            console.print(
                f"[yellow]{o.n_blocked} blocked by the provider, {o.n_no_answer} without a final answer;"
                f" {BLOCKED_AS_TEXT[metrics.blocked_as]}.[/]"
            )
        console.print(f"[dim]{OVERALL_TEXT}. Intervals: {escape(intervals_text(metrics))}.[/]")
        if source.scorer_note:
            console.print(f"[dim]{escape(source.scorer_note)}[/]")
        for note in correction_notes(correction) if correction is not None else []:
            console.print(f"[yellow]{escape(note)}[/]" if "warning" in note else f"[dim]{escape(note)}[/]")
    else:
        console.file.write(out if out.endswith("\n") else out + "\n")
