"""The validation report as one offline HTML page: tables, confusion heat maps, paired comparisons, and a
browser of the labels where a scorer disagrees with people.

It reuses the HTML report's machinery: the same stylesheet, a Content-Security-Policy that forbids any
fetch, a per-file script nonce, and model text carried only as inert JSON put on the page with
`textContent` — a hostile prompt or answer never becomes markup — each cut to `report.text.cap_text`'s
limit. Heat-map colours are computed here from numbers only.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flames.labels.records import LabelRecord
from flames.report.charts import FONT_STACK
from flames.report.html import asset, json_for_script
from flames.report.text import cap_text
from flames.report.validation import COLUMNS, cells, comparison_cells, groups, notes
from flames.taxonomy import DIMENSIONS, info
from flames.validation import GroupValidation, ValidationReport


def heat_map(g: GroupValidation) -> dict[str, Any]:
    """Confusion cells with their row share P(scorer | human) and a background colour: green on the
    diagonal (agreement), red off it, stronger for larger shares."""
    rows = []
    for c, row in zip(g.labels, g.confusion, strict=True):
        total = sum(row)
        out = []
        for j, count in enumerate(row):
            share = count / total if total else 0.0
            rgb = "26, 127, 55" if g.labels[j] == c else "207, 34, 46"
            out.append({"count": count, "share": f"{100 * share:.0f}%" if total else "",
                        "style": f"background: rgba({rgb}, {0.08 + 0.6 * share:.2f})" if total else ""})  # fmt: skip
        rows.append({"label": c, "cells": out, "total": total})
    return {"labels": list(g.labels), "rows": rows}


def browser_items(report: ValidationReport, labels: Sequence[LabelRecord]) -> list[dict[str, Any]]:
    """Every label that some scorer got wrong or left unscored, with each scorer's verdict; prompt and answer
    cut to `cap_text`'s limit (the whole texts are in the label file)."""
    where = f"the label file {report.labels_info.get('path') or ''}".rstrip()
    items = []
    for r in labels:
        verdicts = [s.scorer.predictions.get(r.id) for s in report.scorers]
        scores = [p.score if p else None for p in verdicts]
        if all(s == r.label for s in scores):
            continue
        items.append({
            "id": r.id, "dimension": r.dimension.value, "model": r.model or "", "prompt": cap_text(r.prompt, where),
            "response": cap_text(r.response, where), "human": r.label, "scores": scores,
            "reasons": [None if p and p.score is not None else (p.reason if p else "no prediction") for p in verdicts],
        })  # fmt: skip
    return items


def render_validation_html(report: ValidationReport, labels: Sequence[LabelRecord]) -> str:
    """The page as one HTML document (no external resources)."""
    from jinja2 import Environment, PackageLoader
    from markupsafe import Markup

    scorers = []
    for v in report.scorers:
        scorers.append({
            "name": v.scorer.name, "source": v.scorer.source,
            "rows": [{"section": s, "label": label, "cells": cells(g)} for s, label, g in groups(v)],
            "heat_maps": [{"label": label, **heat_map(g)} for _, label, g in list(groups(v))[: 1 + len(v.dimensions)]],
        })  # fmt: skip
    payload = {
        "schema": "flames-eval/html-validation/v1",
        "scorers": [v.scorer.name for v in report.scorers],
        "dimensions": {d.value: info(d).zh for d in DIMENSIONS},
        "items": browser_items(report, labels),
    }
    env = Environment(loader=PackageLoader("flames.report", "templates"), autoescape=True)
    return env.get_template("validation.html.j2").render(
        scorers=scorers, columns=COLUMNS, notes=notes(report), labels_info=report.labels_info,
        comparisons=[{"a": c.a, "b": c.b, "cells": comparison_cells(c)} for c in report.comparisons],
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        nonce=secrets.token_urlsafe(16), font_stack=Markup(FONT_STACK), css=Markup(asset("report.css")),
        items_js=Markup(asset("items.js")), page_js=Markup(asset("validation.js")),
        data_json=Markup(json_for_script(payload)),
    )  # fmt: skip


def write_validation_html(report: ValidationReport, labels: Sequence[LabelRecord], path: Path | str) -> Path:
    """Render and write atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(render_validation_html(report, labels), encoding="utf-8")
    tmp.replace(path)
    return path
