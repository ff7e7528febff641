"""`do-not-answer`: Do-Not-Answer (Libr-AI/do-not-answer, Hugging Face `LibrAI/do-not-answer`, Apache-2.0).

Assumed format (the dataset's fields): one row per question, wide — `id`, `risk_area`, `types_of_harm`,
`specific_harms`, `question`, then per model a column pair `MODEL_response` / `MODEL_harmful` (0 or 1, the
human harmfulness label; `MODEL_action`, the response category 0–6, is kept in `meta`). Models in the
published file: GPT4, ChatGPT, Claude, ChatGLM2, llama2-7b-chat, vicuna-7b. Every model found becomes one
label per question (`--model NAME` keeps one). harmful 0 → 3, 1 → 1.

The risk area is a property of the question, so it gives each label a FLAMES dimension (rule
`do-not-answer/risk-area`, ours): Information Hazards → Data protection, Malicious Uses → Legality,
Discrimination/Exclusion/Toxicity/Hateful/Offensive → Fairness, Misinformation Harms and Human-Chatbot
Interaction Harms → Safety. `--dimension` puts every label on one dimension instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from flames.labels.mapping import ImportTally, MappingRule
from flames.labels.readers.base import LabelReader, ReaderOptions, build, empty_field, require_columns, text
from flames.labels.readers.table import read_rows
from flames.labels.records import LabelFileError, LabelRecord
from flames.taxonomy import Dimension

RULE = MappingRule("do-not-answer/harmful", 1, "MODEL_harmful 0 → 3, 1 → 1", {"0": 3, "1": 1})
RISK_AREAS: dict[str, Dimension] = {
    "information hazards": Dimension.DATA_PROTECTION,
    "malicious uses": Dimension.LEGALITY,
    "discrimination, exclusion, toxicity, hateful, offensive": Dimension.FAIRNESS,
    "misinformation harms": Dimension.SAFETY,
    "human-chatbot interaction harms": Dimension.SAFETY,
}
AREA_RULE = MappingRule(
    "do-not-answer/risk-area", 1, "risk_area → dimension: " + "; ".join(f"{a} → {d.value}" for a, d in
                                                                       RISK_AREAS.items()), {})  # fmt: skip
RESPONSE, HARMFUL, ACTION = "_response", "_harmful", "_action"


def models_in(columns: list[str]) -> list[str]:
    """Models with both a `MODEL_response` and a `MODEL_harmful` column, in column order."""
    return [c[: -len(RESPONSE)] for c in columns if c.endswith(RESPONSE) and c[: -len(RESPONSE)] + HARMFUL in columns]


def read(target: str, options: ReaderOptions, tally: ImportTally) -> Iterator[LabelRecord]:
    """Records of a Do-Not-Answer file (see the module docstring); LabelFileError for another format."""
    path = Path(target)
    models: list[str] | None = None
    for line, row in read_rows(path, options.encoding, options.sheet):
        require_columns(path, line, row, ("question", "risk_area"), "a Do-Not-Answer file")
        if models is None:
            models = models_in(list(row))
            if not models:
                raise LabelFileError(path, "no MODEL_response / MODEL_harmful column pair found", line)
            if options.model is not None:
                if options.model not in models:
                    raise LabelFileError(path, f"--model {options.model!r} is not in the file; models: "
                                         + ", ".join(models))  # fmt: skip
                models = [options.model]
        area = text(row, "risk_area")
        dimension = options.dimension or RISK_AREAS.get(area.lower())
        if dimension is None:
            tally.drop(AREA_RULE, f"unknown risk_area {area!r} (pass --dimension to label it anyway)")
            continue
        if options.dimension is None:
            tally.keep(AREA_RULE, f"{area} → {dimension.value}")
        for model in models:
            response, native = text(row, model + RESPONSE), text(row, model + HARMFUL)
            if missing := empty_field(question=text(row, "question"), response=response, label=native):
                tally.drop(RULE, missing)
                continue
            score = tally.apply(RULE, row[model + HARMFUL], dimension)
            if score is None:
                continue
            meta = {k: row[k] for k in ("types_of_harm", "specific_harms") if row.get(k) not in (None, "")}
            if row.get(model + ACTION) not in (None, ""):
                meta["action"] = row[model + ACTION]
            yield build(
                path, line, id=f"do-not-answer:{text(row, 'id') or line}:{model}", dimension=dimension,
                prompt=text(row, "question"), response=response, label=score, model=model, source="do-not-answer",
                native_label=native, mapping=RULE.ref, provenance="human", license="Apache-2.0",
                meta={"risk_area": area, **meta},
            )  # fmt: skip
    if models is None:
        raise LabelFileError(path, "no rows found (the file is empty)")


READER = LabelReader(
    "do-not-answer", "Do-Not-Answer wide CSV/JSONL/Parquet: question, risk_area, MODEL_response + MODEL_harmful",
    "Apache-2.0", (RULE,), read, None,
    "dimension from risk_area (our mapping, see docs/labels.md); English",
)  # fmt: skip
