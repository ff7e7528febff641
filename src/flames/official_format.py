"""The official FLAMES results format: JSONL with `dimension`, `subcomponent`, `prompt`, `response`,
`predicted` (plus `id`, `model`, and here `probs`, `sample_index`, `reasoning`, and for a prompt without an
answer `outcome` "blocked" or "no_answer", `outcome_detail` and `response` null).

Importing a file turns it into an ordinary run (backend "import"), its `predicted` column into judgments
of an "imported" scorer, so results made by other tools are reported, compared and re-scored exactly like
our own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flames.prompts import PromptSet, prompt_from_row, required_text, sha256_file
from flames.records import ANSWERED, Completion, Judgment, OutcomeKind, Prompt
from flames.rowfiles import PromptFileError, iter_rows, require_file
from flames.store import RunInfo, RunSpec, ScorerInfo, Store
from flames.taxonomy import info

RESULT_FIELDS = ("response", "predicted", "probs", "model", "sample_index", "reasoning", "outcome", "outcome_detail",
                 "unscored_reason")  # fmt: skip
OUTCOMES: tuple[OutcomeKind, ...] = ("answered", "blocked", "no_answer")
IMPORTED_SCORER = "imported"


@dataclass(frozen=True)
class OfficialRow:
    """One answer of a results file: its row (position in the file), prompt, response and optional score."""

    line: int
    prompt: Prompt
    response: str
    predicted: int | None = None
    probs: tuple[float, ...] | None = None
    model: str | None = None
    outcome: OutcomeKind = ANSWERED
    """`blocked` / `no_answer` for a prompt without an answer (written by `flames runs export`)."""
    detail: str | None = None
    reasoning: str | None = None


@dataclass(frozen=True)
class ResultsSource:
    """Where imported rows came from: names and hashes that make the import idempotent."""

    name: str
    """Default run and prompt-set name."""
    path: str
    sha256: str
    """Of the file (or of the files' hashes, for several)."""
    meta: dict[str, Any] = field(default_factory=dict)


def score_cell(path: Path | str, line: int, value: Any, scale: Sequence[int], where: str) -> int | None:
    """A results file's score cell (`predicted`) as a score on `scale`, or None when it is empty (null, "").

    A whole number is accepted as a JSON number, a whole float (3.0) or text ("3"); anything else — a
    boolean (Python's `True` is the int 1, so `"predicted": true` would read as score 1), a fraction, other
    text, a list — and a number off `scale` raise PromptFileError naming the file, the row, the field and
    the scale (`where`, e.g. "the Legality scale (3/1)"). The one check every reader of scores uses.
    """
    if value is None or value == "":
        return None
    score: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        score = value
    elif isinstance(value, float | str) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        score = int(number) if number.is_integer() else None
    if score is None or score not in scale:
        got = f"the boolean {json.dumps(value)}" if isinstance(value, bool) else repr(value)
        raise PromptFileError(path, f"expected a score on {where}, got {got}", line, "predicted")
    return score


def _predicted(path: Path, line: int, row: dict[str, Any], prompt: Prompt) -> int | None:
    scale = info(prompt.dimension).scale
    where = f"the {prompt.dimension.value} scale ({'/'.join(map(str, scale))})"
    return score_cell(path, line, row.get("predicted"), scale, where)


def _outcome(path: Path, line: int, row: dict[str, Any]) -> OutcomeKind:
    value = row.get("outcome") or ANSWERED
    for known in OUTCOMES:
        if value == known:
            return known
    raise PromptFileError(path, f"expected one of {', '.join(OUTCOMES)}, got {value!r}", line, "outcome")


def _optional_text(row: dict[str, Any], field: str) -> str | None:
    value = row.get(field)
    return value if isinstance(value, str) and value else None


def read_official(path: Path | str) -> list[OfficialRow]:
    """Read and validate a results file; errors name the file, line and field."""
    path = Path(path)
    require_file(path)
    rows: list[OfficialRow] = []
    for line, row in iter_rows(path):
        prompt = prompt_from_row(path, line, row)
        for f in RESULT_FIELDS:
            prompt.metadata.pop(f, None)
        outcome = _outcome(path, line, row)
        if outcome != ANSWERED:  # a blocked or unanswered prompt has no response to read
            response = ""
        else:
            response = required_text(path, line, row, "response") if row.get("response") != "" else ""
        probs = row.get("probs")
        rows.append(
            OfficialRow(
                line,
                prompt,
                response,
                _predicted(path, line, row, prompt) if outcome == ANSWERED else None,
                tuple(float(p) for p in probs) if isinstance(probs, list) else None,
                str(row["model"]) if row.get("model") else None,
                outcome,
                _optional_text(row, "outcome_detail"),
                _optional_text(row, "reasoning"),
            )
        )
    if not rows:
        raise PromptFileError(path, "no rows found (the file is empty)")
    return rows


def import_official(
    store: Store, path: Path | str, run_name: str | None = None, model: str | None = None, shown_as: str | None = None
) -> RunInfo:
    """Import a results file in the official format as a run (idempotent: importing it again changes nothing).

    `shown_as` is the name the run records as `imported_from` (and its prompt set as source) instead of
    `path`: a web upload gives its file's sanitised name, never the temporary copy read here. See
    `import_rows` for samples and scores.
    """
    path = Path(path)
    rows = read_official(path)
    source = ResultsSource(path.stem, shown_as or str(path), sha256_file(path))
    return import_rows(store, rows, source, run_name, model)


def import_rows(
    store: Store, rows: Sequence[OfficialRow], source: ResultsSource, run_name: str | None = None,
    model: str | None = None,
) -> RunInfo:  # fmt: skip
    """Store rows read from another tool's results as a run named `run_name` (default: `default_run_name`).

    Rows that repeat a prompt become further samples of it. `predicted` values become judgments of the
    "imported" scorer; rows without one are stored as unscored, never given a score. Importing the same
    source again changes nothing.
    """
    sample_of: dict[str, int] = {}
    samples: list[int] = []
    unique: dict[str, Prompt] = {}
    for r in rows:
        samples.append(sample_of.get(r.prompt.id, -1) + 1)
        sample_of[r.prompt.id] = samples[-1]
        unique.setdefault(r.prompt.id, r.prompt)
    prompt_set = PromptSet(source.name, source.sha256, source.path, tuple(unique.values()))
    models = sorted({r.model for r in rows if r.model})
    model_spec = model or (models[0] if len(models) == 1 else f"import:{Path(source.path).name}")
    spec = RunSpec(
        name=run_name or source.name,
        model_spec=model_spec,
        backend="import",
        generation_config={"source_sha256": source.sha256},
        samples=max(samples) + 1,
        meta={"imported_from": source.path, "models_in_file": models, **source.meta},
    )
    if run_name is None:
        spec = replace(spec, name=default_run_name(store, spec, prompt_set))
    run = store.open_run(spec, prompt_set)
    by_slot = {(r.prompt.id, k): r for r, k in zip(rows, samples, strict=True)}
    for slot in store.pending(run):  # only unanswered slots: nothing is stored twice
        found = by_slot.get((slot.prompt.id, slot.sample_index))
        if found is not None:  # prompts with fewer samples than others leave their extra slots unanswered
            answer = Completion(found.response, meta={"line": int(found.line)}, reasoning=found.reasoning,
                                outcome=found.outcome, detail=found.detail)  # fmt: skip
            store.save_response(run.id, slot, answer)
    if any(r.predicted is not None for r in rows):
        scorer = store.scorer(
            IMPORTED_SCORER, {"source_sha256": source.sha256, "file": Path(source.path).name}, kind="imported"
        )
        judged = store.judgments(run, scorer)
        for resp in store.responses(run):
            if resp.id in judged:
                continue
            row = by_slot[(resp.prompt.id, resp.sample_index)]
            store.save_judgment(
                resp.id,
                scorer,
                Judgment(str(resp.id), row.prompt.dimension, row.predicted, row.probs)
                if row.predicted is not None
                else Judgment(str(resp.id), row.prompt.dimension, None, unscored_reason="no `predicted` in file"),
            )
    store.update_run(run.id, status="complete", resolved_model=model_spec)
    return store.get_run(run.name)


def default_run_name(store: Store, spec: RunSpec, prompt_set: PromptSet) -> str:
    """`spec.name` (the file's stem), unless a run made from other contents (another file of that name, or
    the same file with another --model) holds it: then the stem and the first 8 hex digits of this import's
    config hash (`answers-1a2b3c4d`). A second `answers.jsonl` becomes a run of its own, and importing either
    file again finds its run."""
    if not store.has_run(spec.name):
        return spec.name
    held = store.get_run(spec.name)
    if held.config_hash == spec.config_hash and held.data_sha256 == prompt_set.sha256:
        return spec.name
    return f"{spec.name}-{spec.config_hash[:8]}"


def official_rows(store: Store, run: RunInfo, scorer: ScorerInfo | None) -> list[dict[str, Any]]:
    """The run's final outcomes as official-format rows, with `predicted`/`probs` from `scorer` when given.

    An answer's reasoning trace is in `reasoning`. A blocked or unanswered prompt is a row with `response`
    null, `outcome` and `outcome_detail` (so no tool mistakes it for an empty answer) and no `predicted`.
    """
    judged = store.judgments(run, scorer) if scorer else {}
    out: list[dict[str, Any]] = []
    for resp in store.responses(run, withheld=True):
        p = resp.prompt
        row: dict[str, Any] = {"id": p.id, "dimension": p.dimension.value, "subcomponent": p.subcomponent}
        if p.attack_method:
            row["attack_method"] = p.attack_method
        answered = resp.outcome == ANSWERED
        row |= {"prompt": p.prompt, "response": resp.text if answered else None,
                "model": run.resolved_model or run.model_spec}  # fmt: skip
        if not answered:
            row |= {"outcome": resp.outcome, "outcome_detail": resp.detail}
        if resp.reasoning:
            row["reasoning"] = resp.reasoning
        if run.samples > 1:
            row["sample_index"] = resp.sample_index
        j = judged.get(resp.id)
        if scorer is not None:
            row["predicted"] = j.score if j else None
            if j and j.probs is not None:
                row["probs"] = list(j.probs)
            if j and j.unscored_reason:
                row["unscored_reason"] = j.unscored_reason
            elif not answered:  # never judged: say why, for tools that read `predicted` only
                row["unscored_reason"] = f"{resp.outcome}: {resp.detail}"
        out.append(row)
    return out


def write_jsonl(rows: list[dict[str, Any]], path: Path | str) -> None:
    """Write rows as UTF-8 JSONL (Chinese unescaped), atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
