"""Experiment `generalisation`: does a trained scorer generalise to LLMs (or groups) it never saw?

Leave-one-model-out (`flames.training.lomo`): for each generating model of the label set, a scorer trained on
the other models' labels (with the given backbone) scores the held-out model's answers. With `group_by` the
held-out unit is another field of the labels — `source`, `subcomponent`, or `meta.KEY` (e.g. a model family
or generation) — leave-one-group-out. Per held-out group:

- the human harmless rate (of the labels), the scorer's raw harmless rate and its corrected harmless rate
  (`flames.correction`), each with an interval; `covered`: whether the corrected interval contains the
  human rate;
- accuracy and Cohen's κ (plain and linear) per dimension, with prompt-clustered intervals.

The correction of a held-out group is calibrated on the out-of-fold verdicts on the *other* groups (each made
by a scorer that never saw its own group), so a group's own labels never calibrate its correction; the
assumption is that the training recipe errs on a new model as it erred on the others. Summary: the share of
groups whose corrected (and raw) interval covers the human rate, and the mean absolute error of the raw and
corrected rates. Harmless rates follow FLAMES: per dimension, and overall the unweighted mean of dimensions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from flames.correction import Calibration, Corrected, correct
from flames.experiments.charts import chart_layout, estimate_bars
from flames.experiments.inputs import labels_input
from flames.experiments.result import ExperimentResult, Section, Table, num, pct, pct_ci
from flames.labels.records import LabelRecord
from flames.metrics import BootstrapConfig, GroupStats, compute_metrics
from flames.records import ScoredRecord
from flames.scorers.trained.manifest import MANIFEST_FILE, file_sha256
from flames.store import Store
from flames.taxonomy import DIMENSIONS, Dimension, bilingual, info
from flames.training.config import TrainConfig
from flames.training.events import EventSink, ignore
from flames.training.lomo import Fold, leave_one_model_out
from flames.validation import ScorerPredictions, validate_scorer

NAME = "generalisation"
RECORD_FIELDS = ("model", "source", "subcomponent", "dimension", "provenance", "license")
CLAIM = (
    "FLAMES develops 'a lightweight specified scorer capable of scoring LLMs across multiple dimensions to "
    "efficiently evaluate new models on the benchmark': the scorer stands in for human annotation on models "
    "whose answers it never saw. This experiment holds out each model (or group) in turn and compares the "
    "scorer's harmless rate on it with the human one."
)


def group_of(record: LabelRecord, field: str) -> str | None:
    """The value of `field` for a label: a record field (model, source, subcomponent, dimension, provenance,
    license) or `meta.KEY`; None when the label has none. Raises ValueError for any other field."""
    if field.startswith("meta."):
        value = record.meta.get(field[5:])
    elif field in RECORD_FIELDS:
        value = getattr(record, field)
    else:
        raise ValueError(f"--group-by {field!r}: use one of {', '.join(RECORD_FIELDS)} or meta.KEY")
    return None if value in (None, "") else str(value)


def scored(labels: Sequence[LabelRecord], predictions: ScorerPredictions | None) -> list[ScoredRecord]:
    """Labels as records for the metrics: the human labels, or the scorer's verdicts (missing: unscored)."""
    out = []
    for r in labels:
        if predictions is None:
            score: int | None = r.label
        else:
            p = predictions.predictions.get(r.id)
            score = p.score if p is not None and p.score in info(r.dimension).scale else None
        out.append(ScoredRecord(r.prompt_id, r.dimension, r.subcomponent or "", score))
    return out


def calibration(labels: Sequence[LabelRecord], predictions: ScorerPredictions) -> Calibration:
    """Confusion matrices (rows human, columns scorer) of the verdicts on `labels`, per dimension."""
    confusions = {}
    for d in DIMENSIONS:
        scale = info(d).scale
        matrix = np.zeros((len(scale), len(scale)))
        for r in labels:
            p = predictions.predictions.get(r.id)
            if r.dimension == d and p is not None and p.score in scale:
                matrix[scale.index(r.label), scale.index(p.score)] += 1
        if matrix.sum():
            confusions[d] = (scale, matrix)
    return Calibration(predictions.name, None, confusions, "out-of-fold verdicts on the other groups")


def _rate(g: GroupStats | None) -> dict[str, Any]:
    if g is None:
        return {"value": None, "ci": None, "n": 0, "n_unscored": 0}
    return {"value": g.harmless_rate, "ci": list(g.harmless_rate_ci) if g.harmless_rate_ci else None, "n": g.n,
            "n_unscored": g.n_unscored}  # fmt: skip


def _corrected(c: Corrected | None) -> dict[str, Any]:
    if c is None:
        return {"value": None, "ci": None, "method": None, "warnings": []}
    return {"value": c.harmless_rate, "ci": list(c.harmless_rate_ci) if c.harmless_rate_ci else None,
            "method": c.method, "warnings": list(c.warnings)}  # fmt: skip


def _covers(ci: list[float] | None, value: float | None) -> bool | None:
    return None if ci is None or value is None else bool(ci[0] - 1e-12 <= value <= ci[1] + 1e-12)


def _error(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else abs(a - b)


def held_out_group(name: str, test: Sequence[LabelRecord], others: Sequence[LabelRecord],
                   predictions: ScorerPredictions, boot: BootstrapConfig) -> dict[str, Any]:  # fmt: skip
    """The figures of one held-out group (see the module docstring)."""
    human = compute_metrics(scored(test, None), boot)
    raw_records = scored(test, predictions)
    raw = compute_metrics(raw_records, boot)
    fixed = correct(raw_records, calibration(others, predictions), boot)
    agreement = validate_scorer(test, predictions, boot)
    slices: dict[str, Any] = {}
    for key, h, r, c in [("overall", human.overall, raw.overall, fixed.overall),
                         *[(d.value, human.dimensions[d], raw.dimensions.get(d), fixed.dimensions.get(d))
                           for d in human.dimensions]]:  # fmt: skip
        hr, rr, cr = _rate(h), _rate(r), _corrected(c)
        slices[key] = {"human": hr, "raw": rr, "corrected": cr,
                       "raw_covered": _covers(rr["ci"], hr["value"]), "covered": _covers(cr["ci"], hr["value"]),
                       "raw_error": _error(rr["value"], hr["value"]),
                       "error": _error(cr["value"], hr["value"])}  # fmt: skip
    dims = {}
    for d, g in agreement.dimensions.items():
        dims[d.value] = {"n": g.n, "n_unscored": g.n_unscored, "accuracy": g.accuracy.value,
                         "accuracy_ci": [g.accuracy.low, g.accuracy.high] if g.accuracy.low is not None else None,
                         "kappa": {"value": g.kappa.value, "low": g.kappa.low, "high": g.kappa.high},
                         "kappa_linear": {"value": g.kappa_linear.value, "low": g.kappa_linear.low,
                                          "high": g.kappa_linear.high}}  # fmt: skip
    return {"group": name, "n_labels": len(test), "overall": slices.pop("overall"), "dimensions": slices,
            "agreement": dims, "correction_warnings": list(fixed.warnings)}  # fmt: skip


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _share(values: list[bool | None]) -> dict[str, Any]:
    kept = [v for v in values if v is not None]
    return {"value": sum(kept) / len(kept) if kept else None, "k": sum(kept), "n": len(kept)}


def generalisation(
    labels: Sequence[LabelRecord], labels_path: Path | str, config: TrainConfig, work_dir: Path, *,
    group_by: str = "model", unseen_prompts: bool = False, seed: int = 0, boot: BootstrapConfig | None = None,
    store: Store | None = None, on_event: EventSink = ignore, on_fold: Callable[[Fold], None] | None = None,
) -> ExperimentResult:  # fmt: skip
    """The experiment on a label set (see the module docstring; the JSON in docs/experiments.md). Scorers are
    trained under `work_dir` (one folder per held-out group). Raises ValueError for an unknown `group_by`,
    TrainingError when fewer than two groups have labels or a fold has nothing to train on."""
    boot = boot or BootstrapConfig(seed=seed)
    grouped = [(r, group_of(r, group_by)) for r in labels]
    kept = [replace(r, model=g) for r, g in grouped if g is not None]
    lomo = leave_one_model_out(kept, config, work_dir, unseen_prompts=unseen_prompts, seed=seed, on_event=on_event,
                               on_fold=on_fold, store=store)  # fmt: skip
    folds = {f.model: f for f in lomo.folds}
    rows = []
    for name in sorted(folds):
        test = [r for r in kept if r.model == name]
        others = [r for r in kept if r.model != name]
        fold = {**folds[name].to_json(), "manifest_sha256": file_sha256(folds[name].scorer_dir / MANIFEST_FILE)}
        rows.append({**held_out_group(name, test, others, lomo.predictions, boot), "fold": fold})
    pooled = validate_scorer(kept, lomo.predictions, boot)
    summary = {
        "groups": len(rows),
        "corrected_coverage": _share([r["overall"]["covered"] for r in rows]),
        "raw_coverage": _share([r["overall"]["raw_covered"] for r in rows]),
        "mean_absolute_error_raw": _mean([r["overall"]["raw_error"] for r in rows]),
        "mean_absolute_error_corrected": _mean([r["overall"]["error"] for r in rows]),
        "pooled_accuracy": pooled.overall.accuracy.value, "pooled_kappa_linear": pooled.overall.kappa_linear.value,
    }  # fmt: skip
    results = {"group_by": group_by, "unseen_prompts": unseen_prompts, "without_group": len(labels) - len(kept),
               "summary": summary, "groups": rows}  # fmt: skip
    warnings = []
    if results["without_group"]:
        warnings.append(f"{results['without_group']} label(s) have no {group_by} and were left out")
    if len(rows) < 5:
        warnings.append(f"only {len(rows)} held-out groups: the coverage and mean error rest on very few values")
    return ExperimentResult(
        NAME, "Scorer generalisation 评分器泛化", f"Does a scorer trained on the other {group_by} values generalise"
        f" to a {group_by} it never saw?", CLAIM,
        inputs={"labels": labels_input(labels_path, labels), "training": config.to_json()},
        parameters={"group_by": group_by, "unseen_prompts": unseen_prompts, "seed": seed, "work_dir": str(work_dir),
                    "bootstrap": {"n_boot": boot.n_boot, "confidence": boot.confidence, "seed": boot.seed,
                                  "resampling_unit": "prompt"}},
        results=results, sections=_sections(results), charts=_charts(results), notes=_notes(group_by, boot),
        warnings=tuple(warnings),
    )  # fmt: skip


def _notes(group_by: str, boot: BootstrapConfig) -> tuple[str, ...]:
    return (
        f"each held-out {group_by}'s scorer was trained on the labels of every other {group_by}"
        " (leave-one-group-out); its correction is calibrated on the out-of-fold verdicts on the other groups,"
        " assuming the recipe errs on a new group as on the others",
        f"intervals: {int(100 * boot.confidence)}% percentile bootstrap over prompts ({boot.n_boot} resamples); the"
        " corrected interval also resamples the calibration. covered: the corrected interval contains the human"
        " rate of the same answers",
        "harmless rates per dimension; overall = the unweighted mean of dimensions, as FLAMES's overall",
        "prompts are shared between groups unless --unseen-prompts: a scorer may then know a held-out prompt from"
        " other models' answers to it",
    )


def _of(share: dict[str, Any]) -> str:
    return f"{share['k']} / {share['n']}" if share["n"] else "—"


def _sections(results: dict[str, Any]) -> tuple[Section, ...]:
    rows = []
    for g in results["groups"]:
        o = g["overall"]
        rows.append((g["group"], str(g["n_labels"]), pct_ci(o["human"]["value"], o["human"]["ci"]),
                     pct_ci(o["raw"]["value"], o["raw"]["ci"]), pct_ci(o["corrected"]["value"], o["corrected"]["ci"]),
                     {True: "yes", False: "no", None: "—"}[o["covered"]]))  # fmt: skip
    s = results["summary"]
    summary = Table("Summary over held-out groups", ("figure", "value"), (
        ("held-out groups", str(s["groups"])),
        ("corrected interval covers the human rate", _of(s["corrected_coverage"])),
        ("raw interval covers the human rate", _of(s["raw_coverage"])),
        ("mean absolute error, raw", pct(s["mean_absolute_error_raw"])),
        ("mean absolute error, corrected", pct(s["mean_absolute_error_corrected"])),
        ("pooled accuracy / linear κ", f"{pct(s['pooled_accuracy'])} / {num(s['pooled_kappa_linear'])}"),
    ))  # fmt: skip
    per_group = Table("Overall harmless rate per held-out group",
                      ("held out", "labels", "human [CI]", "scorer raw [CI]", "corrected [CI]", "covered"), tuple(rows))
    agree = []
    for g in results["groups"]:
        for d, a in g["agreement"].items():
            agree.append((g["group"], bilingual(Dimension(d)), str(a["n"]), pct_ci(a["accuracy"], a["accuracy_ci"]),
                          num(a["kappa"]["value"]),
                          num(a["kappa_linear"]["value"])))  # fmt: skip
    agreement = Table("Agreement with people per held-out group and dimension",
                      ("held out", "dimension", "n", "accuracy [CI]", "κ", "κ linear"), tuple(agree))
    return (Section("Summary 汇总", tables=(summary,)),
            Section("Per held-out group 各留出组", charts=("rates",), tables=(per_group, agreement)))


def _charts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    groups = results["groups"]
    names = [g["group"] for g in groups]
    series = (("human", "human 人工"), ("raw", "scorer raw 评分器"), ("corrected", "corrected 校正后"))
    traces = [estimate_bars(label, names, [g["overall"][key] for g in groups]) for key, label in series]
    layout = chart_layout("Harmless rate per held-out group 各留出组无害率 (%)", yaxis={"range": [0, 105]})
    return {"rates": {"data": traces, "layout": layout}}
