"""Export a project's labels as JSONL or CSV.

Rows carry the official FLAMES fields (`id`, `dimension`, `subcomponent`, `prompt`, `response`, `model`,
`predicted` = the final label, empty until decided), so an export can be read back by any tool that reads
the official format, plus the provenance and every individual label for audit.

Individual labels are exported only for items that have left labelling (waiting for adjudication or
decided): while an item is being labelled its labels stay blind to everyone, admins included.

CSV is read by spreadsheets, which run a cell starting with `=`, `+`, `-` or `@` (or a tab or carriage
return followed by one) as a formula: `=HYPERLINK(...)` in an adversarial response would become a live link.
Every such text cell is written with a leading apostrophe (`'=...`), the OWASP "CSV injection" defence:
spreadsheets show the text as typed. Numbers stay numbers. JSONL is exact and never altered.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from flames.annotate.projects import ItemRecord, Project, item_records
from flames.annotate.schema import ItemStatus, LabelStatus
from flames.report.text import spreadsheet_safe
from flames.store import Store

FORMATS = ("jsonl", "csv")
_LABEL_FIELDS = ("annotator", "status", "score", "explanation", "reason")


def _labels(record: ItemRecord) -> list[dict[str, Any]]:
    if record.status == ItemStatus.LABELING:
        return []  # blind until the item leaves labelling
    answered = [lab for lab in record.labels if lab.status != LabelStatus.PENDING]
    return [{f: getattr(lab, f) for f in _LABEL_FIELDS} for lab in answered]


def export_rows(store: Store, project: Project) -> list[dict[str, Any]]:
    return [
        {
            "id": r.prompt_id,
            "dimension": r.dimension.value,
            "subcomponent": r.subcomponent,
            "prompt": r.prompt,
            "response": r.response,
            "model": project.model,
            "predicted": r.final_score,
            "status": r.status,
            "provenance": r.provenance,
            "adjudicator": r.adjudicator,
            "note": r.final_note,
            "labels": _labels(r),
        }
        for r in item_records(store, project)
    ]


def _csv_row(row: dict[str, Any], width: int) -> dict[str, Any]:
    flat = {k: v for k, v in row.items() if k != "labels"}
    for i in range(width):
        lab = row["labels"][i] if i < len(row["labels"]) else {}
        flat.update({f"{f}_{i + 1}": lab.get(f) for f in _LABEL_FIELDS})
    return {k: spreadsheet_safe(v) for k, v in flat.items()}


def render(store: Store, project: Project, fmt: str) -> Iterator[str]:
    """The export as text chunks (one per row), in `fmt` ('jsonl' or 'csv', UTF-8, Chinese kept as is; CSV
    text cells made spreadsheet-safe, see the module docstring)."""
    rows = export_rows(store, project)
    if fmt == "jsonl":
        for row in rows:
            yield json.dumps(row, ensure_ascii=False) + "\n"
        return
    if fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    width = max((len(r["labels"]) for r in rows), default=0)
    buf = io.StringIO()
    flat = [_csv_row(r, width) for r in rows]
    fields = list(flat[0]) if flat else ["id", "dimension", "subcomponent", "prompt", "response"]
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for row in flat:
        writer.writerow(row)
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()
