"""The report's charts as plotly figure specs (plain dicts): the page calls `Plotly.newPlot` on them.

Built from `MetricsReport` values only, so a chart can never disagree with the tables next to it; error
bars are the bootstrap intervals, drawn asymmetric because percentile intervals are.

Plotly renders a little HTML inside every text it draws (`<a href>` links, `<span style>`, `<b>`, entities)
in ticks, legends, titles and hover labels. Labels come from data (attack methods, subcomponents, scorer
names such as `human:PROJECT`), so every public chart function is wrapped in `plotly_text_safe`: each string
that plotly would draw is escaped, and shows literally, markup included.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec

from flames.metrics import GroupStats, MetricsReport
from flames.taxonomy import DIMENSIONS, Dimension, bilingual

FONT_STACK = (
    '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Hiragino Sans GB", '
    '"Microsoft YaHei", "WenQuanYi Micro Hei", system-ui, sans-serif'
)
"""System CJK fonts (Debian: fonts-noto-cjk); embedding a font would add megabytes to every report."""
DIMENSION_COLORS = {
    Dimension.FAIRNESS: "#4C78A8",
    Dimension.SAFETY: "#F58518",
    Dimension.MORALITY: "#54A24B",
    Dimension.LEGALITY: "#B279A2",
    Dimension.DATA_PROTECTION: "#E45756",
}
OVERALL_LABEL = "Overall 总体"


def overall_label(included: Sequence[Dimension], base: str = OVERALL_LABEL) -> str:
    """How every format names an overall figure: `base` when it averages all five FLAMES dimensions (or none
    was scored), else `base (4 of 5 dimensions: Fairness, Safety, …)` — a mean over fewer dimensions is not
    FLAMES's overall and is not comparable with one."""
    if not included or len(included) == len(DIMENSIONS):
        return base
    return f"{base} ({len(included)} of {len(DIMENSIONS)} dimensions: {', '.join(d.value for d in included)})"
P = ParamSpec("P")
_TEXT_KEYS = frozenset({"x", "y", "name", "text", "hovertext", "categoryarray", "ticktext"})
"""Keys of a figure spec whose strings plotly draws as text (titles are `{"text": ...}` dicts)."""


def escape_plotly(text: str) -> str:
    """`text` as plotly draws it literally: `&`, `<` and `>` as entities, so no tag or entity of the data
    is interpreted (plotly decodes the entities back to the characters it shows)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _is_text(key: str, value: Any) -> bool:
    return key in _TEXT_KEYS or (key == "title" and isinstance(value, str))


def _escaped(value: Any, text: bool = False) -> Any:
    if isinstance(value, str):
        return escape_plotly(value) if text else value
    if isinstance(value, list):
        return [_escaped(v, text) for v in value]
    if isinstance(value, dict):
        return {k: _escaped(v, text or _is_text(k, v)) for k, v in value.items()}
    return value


def plotly_text_safe(chart: Callable[P, dict[str, Any]]) -> Callable[P, dict[str, Any]]:
    """Decorator for functions returning a figure spec: every string under a text key (`x`, `y`, `name`,
    `text`, `hovertext`, `categoryarray`, `ticktext`, a `title` given as a string or its `text`) is escaped."""

    @functools.wraps(chart)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        return dict(_escaped(chart(*args, **kwargs)))

    return wrapper


def error_bars(values: list[float | None], cis: list[tuple[float, float] | None], scale: float) -> dict[str, Any]:
    """Plotly asymmetric error bars (percentile intervals are asymmetric) of values and intervals × scale."""
    plus = [scale * ci[1] - scale * v if ci and v is not None else None for v, ci in zip(values, cis, strict=True)]
    minus = [scale * v - scale * ci[0] if ci and v is not None else None for v, ci in zip(values, cis, strict=True)]
    return {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus, "visible": True}


def _bars(name: str, labels: list[str], stats: list[GroupStats], rate: bool, **extra: Any) -> dict[str, Any]:
    values = [g.harmless_rate if rate else g.harmless_score for g in stats]
    cis = [g.harmless_rate_ci if rate else g.harmless_score_ci for g in stats]
    scale = 100.0 if rate else 1.0
    ys = [scale * v if v is not None else None for v in values]
    return {"type": "bar", "name": name, "x": labels, "y": ys, "error_y": error_bars(values, cis, scale), **extra}


def chart_layout(title: str, **extra: Any) -> dict[str, Any]:
    """The reports' figure layout: title, CJK font stack, grouped bars, legend below; `extra` overrides."""
    return {
        "title": {"text": title},
        "font": {"family": FONT_STACK},
        "barmode": "group",
        "margin": {"l": 60, "r": 20, "t": 50, "b": 80},
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }


@plotly_text_safe
def dimension_chart(metrics: MetricsReport) -> dict[str, Any]:
    """HR (%) and HS per dimension and overall, with their bootstrap intervals as error bars."""
    dims = list(metrics.dimensions)
    labels = [bilingual(d) for d in dims] + [overall_label(metrics.dimensions_in_overall)]
    stats = [metrics.dimensions[d] for d in dims] + [metrics.overall]
    pct = int(100 * metrics.bootstrap.confidence)
    return {
        "data": [
            _bars("Harmless rate 无害率 (%)", labels, stats, rate=True),
            _bars("Harmless score 无害分", labels, stats, rate=False),
        ],
        "layout": chart_layout(f"Per dimension, {pct}% intervals 各维度（{pct}% 置信区间）", yaxis={"range": [0, 105]}),
    }


@plotly_text_safe
def breakdown_chart(title: str, groups: dict[str, GroupStats], zh: dict[str, str]) -> dict[str, Any]:
    """Sorted horizontal bars of the harmless rate per slice (worst at the top), coloured by dimension."""
    order = sorted(groups, key=lambda k: groups[k].harmless_rate or 0.0, reverse=True)
    label = {k: f"{k} {zh[k]}" if k in zh else k for k in groups}
    traces: dict[Dimension | None, list[str]] = {}
    for k in order:
        traces.setdefault(groups[k].dimension, []).append(k)
    data = []
    for dim, keys in sorted(traces.items(), key=lambda t: DIMENSIONS.index(t[0]) if t[0] else 0):
        stats = [groups[k] for k in keys]
        values = [g.harmless_rate for g in stats]
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": bilingual(dim) if dim else "Harmless rate 无害率 (%)",
                "y": [label[k] for k in keys],
                "x": [100 * v if v is not None else None for v in values],
                "error_x": error_bars(values, [g.harmless_rate_ci for g in stats], 100.0),
            }
            | ({"marker": {"color": DIMENSION_COLORS[dim]}} if dim else {})
        )
    return {
        "data": data,
        "layout": chart_layout(
            title,
            height=max(300, 80 + 28 * len(groups)),
            margin={"l": 230, "r": 20, "t": 50, "b": 60},
            xaxis={"range": [0, 105], "title": {"text": "Harmless rate 无害率 (%)"}},
            yaxis={"categoryorder": "array", "categoryarray": [label[k] for k in order]},
        ),
    }


@plotly_text_safe
def distribution_chart(metrics: MetricsReport) -> dict[str, Any]:
    """How many responses got each score, and how many went unscored, per dimension."""
    dims = list(metrics.dimensions)
    labels = [bilingual(d) for d in dims]
    colors = {3: "#54A24B", 2: "#EECA3B", 1: "#E45756"}
    data = [
        {"type": "bar", "name": f"score {s}", "x": labels, "marker": {"color": colors[s]},
         "y": [metrics.dimensions[d].score_counts.get(s, 0) for d in dims]}
        for s in (3, 2, 1)
    ] + [{"type": "bar", "name": "unscored 未评分", "x": labels, "marker": {"color": "#9D9D9D"},
          "y": [metrics.dimensions[d].n_unscored for d in dims]}]  # fmt: skip
    return {"data": data, "layout": chart_layout("Score distribution 评分分布", barmode="stack")}


@plotly_text_safe
def scorers_chart(reports: dict[str, MetricsReport]) -> dict[str, Any]:
    """Each scorer's harmless rate per dimension side by side (scorer label → its metrics); a scorer whose
    overall leaves out a dimension says so in its legend entry."""
    labels = [bilingual(d) for d in DIMENSIONS] + [OVERALL_LABEL]
    data = []
    for label, metrics in reports.items():
        stats = [metrics.dimensions.get(d) for d in DIMENSIONS] + [metrics.overall]
        present = [g if g is not None else GroupStats(0, 0, None, None, None, None) for g in stats]
        data.append(_bars(overall_label(metrics.dimensions_in_overall, label), labels, present, rate=True))
    layout = chart_layout("Harmless rate by scorer 各评分器无害率 (%)", yaxis={"range": [0, 105]})
    return {"data": data, "layout": layout}
