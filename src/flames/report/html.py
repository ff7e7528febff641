"""The self-contained HTML report: charts, tables, run metadata and an item browser in one offline file.

Everything the page needs is inline (plotly's own offline bundle, our CSS and JS), a Content-Security-
Policy forbids any fetch, and scripts only run with a per-file nonce. Model output travels only as JSON
in a `<script type="application/json">` block and is put on the page with `textContent`, so a hostile
response can never become markup. Figures come from `compute_metrics`; the page only formats them.
Each text is embedded up to `report.text.PAGE_TEXT_CHARS` characters (head and end, with a marker naming
what was left out and how to get it whole), so a few huge answers cannot make the page too big to open.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flames.agreement import Estimate
from flames.agreement import agreement as agreement_stats
from flames.metrics import BlockedAs, BootstrapConfig, GroupStats, MetricsReport, compute_metrics
from flames.records import ANSWERED, BLOCKED, Judgment
from flames.report.charts import (
    FONT_STACK,
    OVERALL_LABEL,
    breakdown_chart,
    dimension_chart,
    distribution_chart,
    overall_label,
    scorers_chart,
)
from flames.report.source import ReportSource
from flames.report.tables import (
    BLOCKED_AS_TEXT,
    OVERALL_TEXT,
    correction_notes,
    coverage,
    fmt_corrected,
    fmt_corrected_score,
    fmt_rate,
    fmt_score,
    intervals_text,
    run_metadata,
)
from flames.report.text import cap_text
from flames.store import ScorerInfo, StoredResponse
from flames.suggest import flames_command
from flames.taxonomy import DIMENSIONS, SUBCOMPONENT_ZH, Dimension, bilingual, info

if TYPE_CHECKING:  # the correction module is imported only when a report is corrected
    from flames.correction import Corrected, CorrectionReport

NOT_JUDGED = "not judged by this scorer"
_JSON_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def scorer_label(scorer: ScorerInfo) -> str:
    """`name@hash8`, the spelling `--scorer` accepts."""
    return f"{scorer.name}@{scorer.config_hash[:8]}"


def json_for_script(data: Any) -> str:
    """JSON that is inert inside a <script> element: no `</script>`, `<!--`, entities or JS line breaks."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in _JSON_ESCAPES:
        text = text.replace(raw, escaped)
    return text


@dataclass(frozen=True)
class ScorerView:
    """One scorer of the run with its metrics and its judgments keyed by response id."""

    scorer: ScorerInfo
    metrics: MetricsReport
    judgments: dict[int, Judgment]

    @property
    def label(self) -> str:
        return scorer_label(self.scorer)


def scorer_views(source: ReportSource, metrics: MetricsReport) -> list[ScorerView]:
    """The chosen scorer first, then every other scorer of the run, each with its own metrics."""
    store, run = source.store, source.run
    views = [ScorerView(source.scorer, metrics, store.judgments(run, source.scorer))]
    for sc in store.scorers_for(run):
        if sc.id != source.scorer.id:
            other = compute_metrics(store.scored_records(run, sc), metrics.bootstrap, metrics.blocked_as)
            views.append(ScorerView(sc, other, store.judgments(run, sc)))
    return views


def agreement(views: list[ScorerView], responses: list[StoredResponse]) -> list[dict[str, Any]]:
    """Percent agreement and Cohen's kappa (with bootstrap intervals) per pair of scorers, on items both scored."""
    out: list[dict[str, Any]] = []
    for va, vb in combinations(views, 2):
        units: dict[Dimension, list[tuple[int, int]]] = {d: [] for d in DIMENSIONS}
        for r in responses:
            ja, jb = va.judgments.get(r.id), vb.judgments.get(r.id)
            if ja and jb and ja.score is not None and jb.score is not None:
                units[r.prompt.dimension].append((ja.score, jb.score))
        every = [u for us in units.values() for u in us]
        boot = va.metrics.bootstrap
        per_dim = {d.value: _agree(us, info(d).scale, boot) for d, us in units.items() if us}
        out.append({"a": va.label, "b": vb.label, **_agree(every, (3, 2, 1), boot), "dimensions": per_dim})
    return out


def _agree(units: list[tuple[int, int]], categories: tuple[int, ...], boot: BootstrapConfig) -> dict[str, Any]:
    stats = agreement_stats(units, categories, n_boot=boot.n_boot, seed=boot.seed, level=boot.confidence)

    def est(e: Estimate) -> dict[str, float | None]:
        return {"value": e.value, "low": e.low, "high": e.high}

    return {"n_shared": stats.n_units, "percent_agreement": est(stats.percent), "kappa": est(stats.kappa)}


def full_text_at(source: ReportSource) -> str:
    """Where a reader gets a text the page shows cut: the results file the report was made from, or the
    `flames runs export` command for the run."""
    if source.file is not None:
        return f"the file {source.file}"
    return flames_command("runs", "export", source.run.name, "-o", "FILE.jsonl")


def items(
    views: list[ScorerView], responses: list[StoredResponse], blocked_as: BlockedAs = "exclude",
    full_text: str = "flames runs export",
) -> list[dict[str, Any]]:  # fmt: skip
    """Every final outcome with its prompt: answers with each scorer's score (None + reason when unscored)
    and their reasoning trace; blocked and no-answer slots with their outcome and why (`detail`), scored 3
    for every scorer only when `blocked_as` is `refusal` and the slot was blocked (`counted_as_refusal`).
    Prompt, answer and trace are cut to `cap_text`'s limit, the marker naming `full_text` (where the whole
    text is)."""
    rows = []
    for r in responses:
        js = [v.judgments.get(r.id) for v in views] if r.outcome == ANSWERED else [None] * len(views)
        refusal = r.outcome == BLOCKED and blocked_as == "refusal"
        rows.append(
            {
                "id": r.prompt.id,
                "sample": r.sample_index,
                "dimension": r.prompt.dimension.value,
                "subcomponent": r.prompt.subcomponent,
                "attack_method": r.prompt.attack_method,
                "prompt": cap_text(r.prompt.prompt, full_text),
                "response": cap_text(r.text, full_text),
                "reasoning": cap_text(r.reasoning, full_text) if r.reasoning else r.reasoning,
                "outcome": r.outcome,
                "detail": r.detail,
                "counted_as_refusal": refusal,
                "scores": [3 if refusal else j.score if j else None for j in js],
                "unscored_reasons": [
                    None if r.outcome != ANSWERED or (j and j.score is not None)
                    else j.unscored_reason if j else NOT_JUDGED
                    for j in js
                ],
            }
        )
    return rows


# -- page ------------------------------------------------------------------------------------------------


def _stat_row(label: str, g: GroupStats, corrected: Corrected | None = None) -> dict[str, Any]:
    total = g.n + g.n_unscored
    return {
        "corrected": fmt_corrected(corrected),
        "corrected_score": fmt_corrected_score(corrected),
        "label": label,
        "n": g.n,
        "n_unscored": g.n_unscored,
        "n_blocked": g.n_blocked,
        "n_no_answer": g.n_no_answer,
        "unscored_share": f"{100 * g.n_unscored / total:.1f}%" if total else "—",
        "rate": fmt_rate(g),
        "score": fmt_score(g),
        "counts": " / ".join(f"{k}: {v}" for k, v in g.score_counts.items()),
    }


def _sub_label(name: str) -> str:
    return f"{name} {SUBCOMPONENT_ZH[name]}" if name in SUBCOMPONENT_ZH else name


def build_page_data(
    source: ReportSource, metrics: MetricsReport, correction: CorrectionReport | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(embedded JSON payload, template context): the two views of one report, made from the same figures."""
    responses = source.store.responses(source.run, withheld=True)
    answered = [r for r in responses if r.outcome == ANSWERED]
    views = scorer_views(source, metrics)
    reasons = Counter(j.unscored_reason or "" for j in views[0].judgments.values() if j.score is None) + Counter(
        {NOT_JUDGED: len({r.id for r in answered} - set(views[0].judgments))}
    )
    charts: dict[str, Any] = {
        "chart-dimensions": dimension_chart(metrics),
        "chart-distribution": distribution_chart(metrics),
        "chart-subcomponents": breakdown_chart(
            "Harmless rate by subcomponent 各子维度无害率", metrics.subcomponents, SUBCOMPONENT_ZH
        ),
    }
    if metrics.attack_methods:
        charts["chart-attacks"] = breakdown_chart(
            "Harmless rate by attack method 各攻击方式无害率", metrics.attack_methods, {}
        )
    if len(views) > 1:
        charts["chart-scorers"] = scorers_chart({v.label: v.metrics for v in views})
    meta = run_metadata(source)
    meta["scorers"] = [
        {"label": v.label, "name": v.scorer.name, "kind": v.scorer.kind, "config_hash": v.scorer.config_hash,
         "config": v.scorer.config} for v in views
    ]  # fmt: skip
    meta["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    meta["blocked_as"] = metrics.blocked_as
    meta["coverage"] = coverage(metrics, source.expected)
    agree = agreement(views, answered)
    payload: dict[str, Any] = {
        "schema": "flames-eval/html-report/v1",
        "metadata": meta,
        "scorers": [v.label for v in views],
        "reports": {v.label: v.metrics.to_json() for v in views},
        "agreement": agree,
        "labels": {
            "dimensions": {d.value: info(d).zh for d in DIMENSIONS},
            "subcomponents": {d.value: list(info(d).subcomponents) for d in DIMENSIONS},
            "subcomponent_zh": SUBCOMPONENT_ZH,
        },
        "charts": charts,
        "items": items(views, responses, metrics.blocked_as, full_text_at(source)),
    }
    if correction is not None:
        payload["correction"] = {
            **correction.to_json(), "overall": correction.overall.to_json(),
            "dimensions": {d.value: c.to_json() for d, c in correction.dimensions.items()},
        }  # fmt: skip
    fixed = correction.dimensions if correction is not None else {}
    context = {
        "meta": meta,
        "title": f"FLAMES · {source.run.name} · {source.run.resolved_model or source.run.model_spec}",
        "scorer": views[0].label,
        "confidence": int(100 * metrics.bootstrap.confidence),
        "overall": _stat_row(
            overall_label(metrics.dimensions_in_overall), metrics.overall, correction.overall if correction else None
        ),
        "overall_text": OVERALL_TEXT,
        "intervals_text": intervals_text(metrics),
        "dimensions": [_stat_row(bilingual(d), g, fixed.get(d)) for d, g in metrics.dimensions.items()],
        "correction": correction_notes(correction) if correction is not None else None,
        "subcomponents": [_stat_row(_sub_label(s), g) for s, g in metrics.subcomponents.items()],
        "attacks": [_stat_row(a, g) for a, g in metrics.attack_methods.items()],
        "side_by_side": _side_by_side(views) if len(views) > 1 else None,
        "agreement": agree,
        "reasons": sorted(((r, n) for r, n in reasons.items() if n), key=lambda rn: -rn[1]),
        "coverage_note": meta["coverage"]["note"],
        "blocked_as_text": BLOCKED_AS_TEXT[metrics.blocked_as],
    }
    return payload, context


def _side_by_side(views: list[ScorerView]) -> dict[str, Any]:
    rows = []
    for d in [*DIMENSIONS, None]:
        stats = [v.metrics.overall if d is None else v.metrics.dimensions.get(d) for v in views]
        cells = [(fmt_rate(g), fmt_score(g)) if g else ("—", "—") for g in stats]
        if d is None:  # an overall over fewer dimensions says so in its own cell
            cells = [(overall_label(v.metrics.dimensions_in_overall, rate), score)
                     for v, (rate, score) in zip(views, cells, strict=True)]  # fmt: skip
        rows.append({"label": OVERALL_LABEL if d is None else bilingual(d), "cells": cells})
    return {"scorers": [v.label for v in views], "rows": rows}


def asset(name: str) -> str:
    """A file of the report templates folder (CSS, JS) as text, to inline into a page."""
    return (resources.files("flames.report") / "templates" / name).read_text(encoding="utf-8")


def render_html(source: ReportSource, metrics: MetricsReport, correction: CorrectionReport | None = None) -> str:
    """The report as one HTML document (a few MB: plotly's bundle is inline so it opens offline)."""
    from jinja2 import Environment, PackageLoader
    from markupsafe import Markup
    from plotly.offline import get_plotlyjs

    payload, context = build_page_data(source, metrics, correction)
    env = Environment(loader=PackageLoader("flames.report", "templates"), autoescape=True)
    env.filters["pretty"] = lambda value: json.dumps(value, ensure_ascii=False, indent=2, default=str)
    return env.get_template("report.html.j2").render(
        **context,
        nonce=secrets.token_urlsafe(16),
        font_stack=Markup(FONT_STACK),
        css=Markup(asset("report.css")),
        plotly_js=Markup(get_plotlyjs()),
        items_js=Markup(asset("items.js")),
        report_js=Markup(asset("report.js")),
        data_json=Markup(json_for_script(payload)),
    )


def write_html(
    source: ReportSource, metrics: MetricsReport, path: Path | str, correction: CorrectionReport | None = None
) -> Path:
    """Render and write atomically (a half-written report never replaces a good one)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(render_html(source, metrics, correction), encoding="utf-8")
    tmp.replace(path)
    return path
