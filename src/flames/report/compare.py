"""Is run B really better than run A? Paired differences, their tests and the items that flipped.

The statistics come from `flames.paired.compare_runs` (bootstrap intervals and tests with the prompt as the
unit; the overall p tests the unweighted mean of the dimensions' differences); this module adds the texts of
the flipped items and each run's blocked and no-answer counts per dimension (those prompts are not compared
unless `--blocked-as refusal` counts a blocked one as a harmless refusal), and renders the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.console import Group as RichGroup
from rich.table import Table
from rich.text import Text

from flames.metrics import BlockedAs, BootstrapConfig, count_blocked_as
from flames.paired import DEFAULT_PERMUTATIONS, Comparison, Flip, PairedDiff, compare_runs
from flames.records import ANSWERED, BLOCKED, NO_ANSWER, ScoredRecord
from flames.report.charts import OVERALL_LABEL
from flames.report.formats import CompareFormat as Format
from flames.report.leaderboard import ScorerKey
from flames.report.source import ReportSource
from flames.report.text import excerpt, md_escape
from flames.taxonomy import DIMENSIONS, SUBCOMPONENT_ZH, bilingual


@dataclass(frozen=True)
class FlipView:
    """A flipped item with the texts a reader needs to judge it."""

    flip: Flip
    prompt: str
    response_a: str
    response_b: str


Withheld = dict[str, tuple[int, int]]
"""Slice label (OVERALL_LABEL or a bilingual dimension) → (blocked, no answer)."""


def withheld_counts(records: list[ScoredRecord]) -> Withheld:
    """(blocked, no answer) per dimension present and overall, in official order."""
    out: Withheld = {}
    for d in DIMENSIONS:
        dim = [r for r in records if r.dimension == d]
        if dim:
            out[bilingual(d)] = (sum(r.outcome == BLOCKED for r in dim), sum(r.outcome == NO_ANSWER for r in dim))
    out[OVERALL_LABEL] = (sum(b for b, _ in out.values()), sum(n for _, n in out.values()))
    return out


@dataclass(frozen=True)
class CompareReport:
    a: ReportSource
    b: ReportSource
    comparison: Comparison
    became_harmless: list[FlipView]
    became_harmful: list[FlipView]
    blocked_as: BlockedAs = "exclude"

    @property
    def withheld(self) -> tuple[Withheld, Withheld]:
        """Each run's (blocked, no answer) counts per dimension and overall."""
        return withheld_counts(self.a.records), withheld_counts(self.b.records)

    @property
    def same_scorer(self) -> bool:
        return ScorerKey.of(self.a) == ScorerKey.of(self.b)

    def warnings(self) -> list[str]:
        out = []
        if not self.same_scorer:
            out.append(
                f"the runs were scored by different scorers ({ScorerKey.of(self.a)} vs {ScorerKey.of(self.b)}):"
                " a difference may come from the judge, not the model. Pick one with --scorer."
            )
        c = self.comparison
        if c.only_in_a or c.only_in_b:
            out.append(
                f"compared on the {c.overall.n_pairs} items both runs scored; {c.only_in_a} scored only in A"
                f" and {c.only_in_b} only in B (unanswered or unscored in the other run) are left out."
            )
        (ba, na), (bb, nb) = (w[OVERALL_LABEL] for w in self.withheld)
        if ba or na or bb or nb:
            how = "counted as harmless refusals (score 3)" if self.blocked_as == "refusal" else "not compared"
            out.append(
                f"A has {ba} blocked and {na} unanswered prompts, B {bb} and {nb}: blocked ones are {how},"
                " unanswered ones are not compared."
            )
        return out


def _texts(source: ReportSource) -> dict[tuple[str, int], tuple[str, str]]:
    """(prompt, answer) per slot; a blocked slot's answer is a marker naming the refusal, never empty text."""
    out = {}
    for r in source.store.responses(source.run, withheld=True):
        answer = r.text if r.outcome == ANSWERED else f"[{r.outcome}: {r.detail}]"
        out[(r.prompt.id, r.sample_index)] = (r.prompt.prompt, answer)
    return out


def compare_sources(
    a: ReportSource,
    b: ReportSource,
    boot: BootstrapConfig | None = None,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    blocked_as: BlockedAs = "exclude",
) -> CompareReport:
    """Compare B with A on the slots both have a score for (with `refusal`, blocked slots count as score 3)."""
    ra, rb = count_blocked_as(a.records, blocked_as), count_blocked_as(b.records, blocked_as)
    comparison = compare_runs(ra, rb, boot, n_permutations)
    ta, tb = _texts(a), _texts(b)

    def view(f: Flip) -> FlipView:
        key = (f.prompt_id, f.sample_index)
        return FlipView(f, ta[key][0], ta[key][1], tb[key][1])

    return CompareReport(
        a, b, comparison, [view(f) for f in comparison.became_harmless], [view(f) for f in comparison.became_harmful],
        blocked_as,
    )  # fmt: skip


# -- rendering ---------------------------------------------------------------------------------------------


def _run_json(s: ReportSource) -> dict[str, Any]:
    run = s.run
    return {"run": run.name, "model": run.resolved_model or run.model_spec, "scorer": str(ScorerKey.of(s)),
            "prompt_set": run.prompt_set_name, "data_sha256": run.data_sha256}  # fmt: skip


def to_json(report: CompareReport, excerpt_chars: int = 0) -> dict[str, Any]:
    """The metrics' comparison JSON plus run identities and the flipped items' texts."""
    out = report.comparison.to_json()
    for key, views in (("became_harmless", report.became_harmless), ("became_harmful", report.became_harmful)):
        for row, v in zip(out[key], views, strict=True):
            row |= {"prompt": excerpt(v.prompt, excerpt_chars) if excerpt_chars else v.prompt,
                    "response_a": excerpt(v.response_a, excerpt_chars) if excerpt_chars else v.response_a,
                    "response_b": excerpt(v.response_b, excerpt_chars) if excerpt_chars else v.response_b}  # fmt: skip
    return {**out, "a": _run_json(report.a), "b": _run_json(report.b), "same_scorer": report.same_scorer,
            "blocked_as": report.blocked_as, "blocked_and_no_answer": _outcome_counts(report),
            "warnings": report.warnings()}  # fmt: skip


def _outcome_counts(report: CompareReport) -> dict[str, Any]:
    """Each run's blocked and no-answer counts, keyed as the report JSON keys slices:
    `{"a": {"overall": {"n_blocked", "n_no_answer"}, "dimensions": {"Fairness": {...}}}, "b": ...}`."""
    english = {bilingual(d): d.value for d in DIMENSIONS}

    def side(w: Withheld) -> dict[str, Any]:
        (blocked, no_answer) = w[OVERALL_LABEL]
        return {"overall": {"n_blocked": blocked, "n_no_answer": no_answer},
                "dimensions": {english[label]: {"n_blocked": b, "n_no_answer": n}
                               for label, (b, n) in w.items() if label in english}}  # fmt: skip

    wa, wb = report.withheld
    return {"a": side(wa), "b": side(wb)}


def fmt_diff(value: float | None, ci: tuple[float, float] | None, scale: float, unit: str) -> str:
    if value is None or ci is None:
        return "—"
    return f"{scale * value:+.2f}{unit} [{scale * ci[0]:+.1f}, {scale * ci[1]:+.1f}]"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "—"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.2f}%"


def _diff_rows(report: CompareReport) -> list[tuple[str, PairedDiff]]:
    c = report.comparison
    return [(bilingual(d), p) for d, p in c.dimensions.items()] + [(OVERALL_LABEL, c.overall)]


HEAD = ("Dimension 维度", "prompts / pairs", "HR A", "HR B", "Δ rate (pp) [95% CI]", "p (Δ rate)",
        "Δ score [95% CI]", "p (Δ score)", "harmless only A", "harmless only B", "blocked A / B",
        "no answer A / B")  # fmt: skip
METHODS = (
    "p: two-sided test of the Δ beside it, prompts as the unit — exact McNemar where every prompt has one pair, "
    "else a paired sign-flip permutation test with each prompt's samples swapped together; Overall: the same "
    "permutation test of the unweighted mean of the dimensions' Δ, stratified by dimension. Each slice's test "
    "is named in --format json."
)


def _cells(p: PairedDiff, label: str, withheld: tuple[Withheld, Withheld]) -> list[str]:
    (ba, na), (bb, nb) = (w.get(label, (0, 0)) for w in withheld)
    return [f"{p.n_prompts} / {p.n_pairs}", _pct(p.rate_a), _pct(p.rate_b),
            fmt_diff(p.diff_rate, p.diff_rate_ci, 100, " pp"), fmt_p(p.rate_test.p_value),
            fmt_diff(p.diff_score, p.diff_score_ci, 1, ""), fmt_p(p.score_test.p_value),
            str(p.a_only_harmless), str(p.b_only_harmless), f"{ba} / {bb}", f"{na} / {nb}"]  # fmt: skip


def _title(report: CompareReport) -> str:
    a, b = report.a.run, report.b.run
    model_a, model_b = a.resolved_model or a.model_spec, b.resolved_model or b.model_spec
    return f"FLAMES compare: A = {a.name} ({model_a}) vs B = {b.name} ({model_b}), B minus A"


def _flip_sections(report: CompareReport) -> list[tuple[str, list[FlipView]]]:
    return [
        ("Became harmless in B (improvements) B 中变为无害", report.became_harmless),
        ("Became harmful in B (regressions) B 中不再无害", report.became_harmful),
    ]


def rich_view(report: CompareReport, max_flips: int, excerpt_chars: int) -> RichGroup:
    table = Table(title=Text(_title(report)), title_justify="left")
    for i, h in enumerate(HEAD):
        table.add_column(h, justify="left" if i == 0 else "right")
    for label, p in _diff_rows(report):
        table.add_row(label, *_cells(p, label, report.withheld), style="bold" if label == OVERALL_LABEL else None)
    parts: list[Table | Text] = [table, Text(METHODS, style="dim")]
    parts += [Text("warning: " + w, style="yellow") for w in report.warnings()]
    for title, views in _flip_sections(report):
        ft = Table(title=Text(f"{title}: {len(views)}"), title_justify="left", show_lines=True)
        for h in ("id", "dimension / subcomponent", "A→B", "prompt 题目", "response A 回复", "response B 回复"):
            ft.add_column(h)
        for v in views[: max_flips or None]:
            f = v.flip
            ft.add_row(
                Text(f.prompt_id + (f" #{f.sample_index}" if f.sample_index else "")),
                Text(f"{f.dimension.value} / {f.subcomponent} {SUBCOMPONENT_ZH.get(f.subcomponent, '')}"),
                f"{f.score_a}→{f.score_b}",
                *(Text(excerpt(t, excerpt_chars)) for t in (v.prompt, v.response_a, v.response_b)),
            )
        parts.append(ft)
        if max_flips and len(views) > max_flips:
            parts.append(Text(f"… and {len(views) - max_flips} more (--max-flips 0 shows all; --format json)."))
    return RichGroup(*parts)


def to_markdown(report: CompareReport, max_flips: int, excerpt_chars: int) -> str:
    lines = [f"### {md_escape(_title(report))}", "", "| " + " | ".join(HEAD) + " |",
             "|---|" + "---:|" * (len(HEAD) - 1)]  # fmt: skip
    for label, p in _diff_rows(report):
        lines.append(f"| {label} | " + " | ".join(_cells(p, label, report.withheld)) + " |")
    lines += ["", f"_{METHODS}_", "", *(f"> warning: {md_escape(w)}" for w in report.warnings())]
    for title, views in _flip_sections(report):
        lines += ["", f"#### {title}: {len(views)}", ""]
        if not views:
            continue
        lines += ["| id | dimension / subcomponent | A→B | prompt 题目 | response A | response B |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for v in views[: max_flips or None]:
            f = v.flip
            lines.append(
                f"| {md_escape(f.prompt_id)} | {f.dimension.value} / {f.subcomponent} | {f.score_a}→{f.score_b} | "
                + " | ".join(md_escape(excerpt(t, excerpt_chars)) for t in (v.prompt, v.response_a, v.response_b))
                + " |"
            )
        if max_flips and len(views) > max_flips:
            lines.append(f"\n… and {len(views) - max_flips} more (`--max-flips 0` shows all).")
    return "\n".join(lines).rstrip() + "\n"


def render(report: CompareReport, fmt: Format, max_flips: int = 20, excerpt_chars: int = 80) -> str | RichGroup:
    if fmt == "json":
        return json.dumps(to_json(report, excerpt_chars), ensure_ascii=False, indent=2)
    if fmt == "markdown":
        return to_markdown(report, max_flips, excerpt_chars)
    return rich_view(report, max_flips, excerpt_chars)
