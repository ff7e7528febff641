"""Experiment `backbones`: which backbone makes the best scorer?

Every backbone is trained (`flames.training.train_scorer`) on the same split of one label set and scores the
same held-out labels:

- `--split prompt` (default): one split by prompt (`flames.labels.split`), test prompts unseen in training;
  transformer backbones get a dev share of the training prompts for early stopping;
- `--split model`: leave-one-model-out (`flames.training.lomo`), the same folds for every backbone; every
  label is scored by a scorer that never saw its model.

Per scorer and per dimension (and pooled): accuracy, macro-F1 and linearly weighted κ with prompt-clustered
bootstrap intervals; paired comparisons of accuracy between every two scorers on the labels both scored (a
prompt-clustered sign-flip test, `flames.validation`); and cost: training seconds, inference items per second
(timed on up to `TIMING_ITEMS` test labels with a fresh scorer), peak memory. The `tfidf` preset always
joins as a baseline, and LLM judges (`--scorer judge:…`) join as scorers that need no training.
"""

from __future__ import annotations

import json
import re
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from flames.experiments.charts import chart_layout, estimate_bars
from flames.experiments.inputs import labels_input
from flames.experiments.result import ExperimentResult, Section, Table, num, pct_ci, pts_ci
from flames.experiments.stats import macro_f1_estimate
from flames.labels.records import LabelRecord
from flames.labels.split import split_labels
from flames.metrics import BootstrapConfig
from flames.scorers.base import Scorer
from flames.scorers.trained.manifest import MANIFEST_FILE, file_sha256
from flames.store import Store
from flames.taxonomy import DIMENSIONS, Dimension, bilingual, info
from flames.training import TrainConfig, train_or_reuse
from flames.training.config import TFIDF
from flames.training.events import EventSink, ignore
from flames.training.lomo import leave_one_model_out
from flames.validation import ScorerPredictions, score_labels, validate
from flames.validation.report import pairs_of

NAME = "backbones"
SPLITS = ("prompt", "model")
TIMING_ITEMS = 256
TIMING_FILE = "experiment-timing.json"
CLAIM = (
    "FLAMES fine-tunes InternLM-chat-7B with one classification head per dimension as its scorer. Whether a "
    "7B backbone is needed — or a smaller encoder, a LoRA adapter, or character n-grams do as well on your "
    "labels — decides what a scorer costs; this experiment trains each backbone on the same split and compares "
    "them on the same items."
)


def slug(spec: str) -> str:
    """A folder name for a backbone spec (path separators and the like become '_')."""
    return re.sub(r"[^\w.-]+", "_", spec).strip("._")[-80:] or "scorer"


def _memory() -> dict[str, Any]:
    """Peak resident memory of this process so far, and the GPU's peak allocation since the last reset (torch
    is only asked when something already imported it)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    out: dict[str, Any] = {"process_peak_rss_bytes": int(rss), "gpu_peak_bytes": None}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        out["gpu_peak_bytes"] = int(torch.cuda.max_memory_allocated())
    return out


def _reset_gpu_peak() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _timed(scorer: Scorer, labels: Sequence[LabelRecord]) -> dict[str, Any]:
    """Inference rate of `scorer` on up to TIMING_ITEMS labels, in a throwaway store (nothing cached)."""
    sample = list(labels[:TIMING_ITEMS])
    started = time.perf_counter()
    score_labels(sample, scorer)
    seconds = time.perf_counter() - started
    return {"timed_items": len(sample), "inference_seconds": round(seconds, 3),
            "inference_items_per_s": round(len(sample) / seconds, 2) if seconds > 0 else None}  # fmt: skip


def _figures(report_scorer: Any, labels: Sequence[LabelRecord], predictions: ScorerPredictions,
             boot: BootstrapConfig) -> dict[str, Any]:  # fmt: skip
    """Per dimension and pooled: accuracy, linear κ (validation's prompt bootstrap) and macro-F1 (ours)."""
    pairs = pairs_of(labels, predictions)

    def group(g: Any, keep: list[int], scale: tuple[int, ...]) -> dict[str, Any]:
        scored = [(pairs[i].human, s, pairs[i].prompt_id) for i in keep if (s := pairs[i].scorer) is not None]
        f1 = macro_f1_estimate([(h, s) for h, s, _ in scored], scale, [c for _, _, c in scored], boot)
        return {"n": g.n, "n_unscored": g.n_unscored, "accuracy": g.accuracy.value,
                "accuracy_ci": [g.accuracy.low, g.accuracy.high] if g.accuracy.low is not None else None,
                "macro_f1": {"value": f1.value, "ci": list(f1.ci) if f1.ci else None},
                "kappa_linear": {"value": g.kappa_linear.value, "ci": [g.kappa_linear.low, g.kappa_linear.high]
                                 if g.kappa_linear.low is not None else None}}  # fmt: skip

    dims = {d.value: group(g, [i for i, r in enumerate(labels) if r.dimension == d], info(d).scale)
            for d, g in report_scorer.dimensions.items()}  # fmt: skip
    return {"overall": group(report_scorer.overall, list(range(len(labels))), (3, 2, 1)), "dimensions": dims}


def _cost(out: Path, train_seconds: float, scorer: Callable[[], Scorer], test: Sequence[LabelRecord],
          **extra: Any) -> dict[str, Any]:  # fmt: skip
    """Training seconds, inference rate (a fresh scorer on up to TIMING_ITEMS labels) and memory, measured once and
    kept in `out/TIMING_FILE`, so a resumed experiment reports the first measurement."""
    path = out / TIMING_FILE
    if path.is_file():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    value = {"train_seconds": round(train_seconds, 2), **extra, **_timed(scorer(), test), **_memory()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    return value


@dataclass
class _Arms:
    """What every scorer was measured on, and what each one said."""

    test: list[LabelRecord]
    split: dict[str, Any]
    systems: list[ScorerPredictions] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


def _by_prompt(labels: Sequence[LabelRecord], configs: Sequence[TrainConfig], work_dir: Path, test_size: float,
               seed: int, store: Store, on_event: EventSink) -> _Arms:  # fmt: skip
    """One split by prompt (dev: a tenth of the training prompts); every backbone trained on it (or reused)."""
    (part,) = split_labels(labels, "prompt", test_size=test_size, dev_size=0.1, seed=seed)
    summary = {"train": len(part.train), "dev": len(part.dev), "test": len(part.test),
               "test_prompts": len({r.prompt_id for r in part.test}), "leaked_labels": part.leaked[0]}  # fmt: skip
    arms = _Arms(part.test, summary)
    for config in configs:
        out = work_dir / str(config.name)
        _reset_gpu_peak()
        trained = train_or_reuse(part.train, part.dev, config, out, on_event=on_event)
        arms.systems.append(score_labels(arms.test, trained.scorer(), store=store))
        cost = _cost(out, float(trained.manifest.training.get("seconds") or 0.0), trained.scorer, arms.test)
        found = arms.systems[-1]
        arms.rows.append({"name": found.name, "kind": "trained", "backbone": config.backbone, "scorer_dir": str(out),
                          "config_hash": found.config_hash, "cost": cost})  # fmt: skip
    return arms


def _by_model(labels: Sequence[LabelRecord], configs: Sequence[TrainConfig], work_dir: Path, seed: int,
              store: Store, on_event: EventSink) -> _Arms:  # fmt: skip
    """Leave-one-model-out with the same folds for every backbone (folds reused on a rerun)."""
    from flames.scorers.trained import make_scorer

    named = [r for r in labels if r.model]
    arms = _Arms(named, {"test": len(named), "models": sorted({str(r.model) for r in named}),
                         "without_model": len(labels) - len(named)})  # fmt: skip
    for config in configs:
        out = work_dir / str(config.name)
        _reset_gpu_peak()
        lomo = leave_one_model_out(labels, config, out, seed=seed, store=store, on_event=on_event)
        arms.systems.append(lomo.predictions)
        last = lomo.folds[-1].scorer_dir
        cost = _cost(out, sum(f.seconds for f in lomo.folds), partial(make_scorer, last), arms.test,
                     train_seconds_include="training and scoring every fold")  # fmt: skip
        arms.rows.append({"name": lomo.predictions.name, "kind": "trained", "backbone": config.backbone,
                          "scorer_dir": str(out), "cost": cost,
                          "folds": [{**f.to_json(), "manifest_sha256": file_sha256(f.scorer_dir / MANIFEST_FILE)}
                                    for f in lomo.folds]})  # fmt: skip
    return arms


def _add_judge(arms: _Arms, store: Store, judge: Scorer) -> None:
    """A judge's verdicts on the test labels (kept in the store, resumed) and its rate when it judged now."""
    from flames.score import plan
    from flames.validation.predictions import labels_run

    pending = len(plan(store, labels_run(store, arms.test), judge).pending)
    started = time.perf_counter()
    arms.systems.append(score_labels(arms.test, judge, store=store))
    seconds = time.perf_counter() - started
    rate = round(pending / seconds, 2) if pending and seconds > 0 else None
    arms.rows.append({"name": arms.systems[-1].name, "kind": "judge", "backbone": judge.name, "scorer_dir": None,
                      "config_hash": arms.systems[-1].config_hash,
                      "cost": {"train_seconds": 0.0, "timed_items": pending, "inference_items_per_s": rate,
                               **_memory()}})  # fmt: skip


def backbones(
    labels: Sequence[LabelRecord], labels_path: Path | str, configs: Sequence[TrainConfig], work_dir: Path, *,
    split: str = "prompt", test_size: float = 0.3, judges: Sequence[Scorer] = (), seed: int = 0,
    boot: BootstrapConfig | None = None, store: Store | None = None, on_event: EventSink = ignore,
) -> ExperimentResult:  # fmt: skip
    """The experiment on one label set (see the module docstring; JSON in docs/experiments.md). Trained scorers
    live under `work_dir/BACKBONE/` and are reused on a rerun; judges' and trained scorers' verdicts are kept
    in `store` (default: an in-memory one). A judge's rate is measured only when it judged something in this
    call. Raises ValueError for an unknown split, a backbone named twice, or a split the labels cannot make;
    TrainingError / ScorerError from training and loading."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    boot = boot or BootstrapConfig(seed=seed)
    store = store or Store("sqlite://")
    configs = list(configs) if any(c.is_tfidf for c in configs) else [TrainConfig(backbone=TFIDF, seed=seed), *configs]
    configs = [replace(c, name=slug(c.backbone)) for c in configs]
    if len({c.name for c in configs}) != len(configs):
        raise ValueError("a backbone is named twice; give each once")
    arms = (_by_prompt(labels, configs, work_dir, test_size, seed, store, on_event) if split == "prompt"
            else _by_model(labels, configs, work_dir, seed, store, on_event))  # fmt: skip
    for judge in judges:
        _add_judge(arms, store, judge)
    report = validate(arms.test, arms.systems, boot, labels_input(labels_path, labels))
    for row, v in zip(arms.rows, report.scorers, strict=True):
        row.update(_figures(v, arms.test, v.scorer, boot))
    results = {"split": split, "split_summary": arms.split, "scorers": arms.rows,
               "comparisons": [c.to_json() for c in report.comparisons]}  # fmt: skip
    warnings = ["test prompts leak into training"] if arms.split.get("leaked_labels") else []
    return ExperimentResult(
        NAME, "Scorer backbones 评分器骨干模型", "Which backbone makes the best scorer on these labels?", CLAIM,
        inputs={"labels": labels_input(labels_path, labels), "training": [c.to_json() for c in configs],
                "judges": [{"name": s.name, "config_hash": s.config_hash} for s in arms.systems[len(configs):]]},
        parameters={"split": split, "test_size": test_size if split == "prompt" else None, "seed": seed,
                    "work_dir": str(work_dir), "bootstrap": {"n_boot": boot.n_boot, "confidence": boot.confidence,
                                                             "seed": boot.seed, "resampling_unit": "prompt"}},
        results=results, sections=_sections(results), charts=_charts(results), notes=_notes(split, boot),
        warnings=tuple(warnings),
    )  # fmt: skip


def _notes(split: str, boot: BootstrapConfig) -> tuple[str, ...]:
    how = (
        "one split by prompt: no test prompt was seen in training" if split == "prompt" else
        "leave-one-model-out: each label scored by a scorer that never saw its model (prompts are shared)"
    )  # fmt: skip
    return (
        f"every backbone trained and tested on the same labels ({how}); judges need no training",
        f"intervals: {int(100 * boot.confidence)}% percentile bootstrap over prompts ({boot.n_boot} resamples);"
        " paired comparisons: B − A accuracy on the labels both scored, prompt-clustered sign-flip test",
        "macro-F1 averages F1 over the classes present in the human labels or the scores; κ linear is Cohen's"
        " κ with linear weights (the 3/2/1 scale is ordinal)",
        f"cost: training seconds from the trained scorer's manifest; items/s timed on up to {TIMING_ITEMS} test"
        " labels with a freshly loaded scorer (loading included); memory is the process's peak so far (it only"
        " grows, so later backbones include earlier ones) and the GPU's peak allocation during the backbone",
        "a label set with construction labels (e.g. JADE-DB) rewards surface cues such as a stock refusal: a"
        " backbone that wins there may not win on human labels of FLAMES answers",
    )


def _mb(x: Any) -> str:
    return "—" if x is None else f"{x / 2**20:,.0f} MB"


def _interval(g: dict[str, Any], key: str, fmt: Callable[[float | None], str]) -> str:
    value, ci = g[key]["value"], g[key]["ci"]
    return fmt(value) + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "")


def _figure_cells(g: dict[str, Any]) -> tuple[str, str, str]:
    """accuracy, macro-F1 and linear κ, each with its interval."""
    return (pct_ci(g["accuracy"], g["accuracy_ci"]), _interval(g, "macro_f1", num), _interval(g, "kappa_linear", num))


def _sections(results: dict[str, Any]) -> tuple[Section, ...]:
    pooled = []
    for s in results["scorers"]:
        c = s["cost"]
        rate = c.get("inference_items_per_s")
        pooled.append((s["name"], s["kind"], str(s["overall"]["n"]), *_figure_cells(s["overall"]),
                       f"{c.get('train_seconds', 0):.1f}", "—" if rate is None else f"{rate:.1f}",
                       _mb(c.get("gpu_peak_bytes") or c.get("process_peak_rss_bytes"))))  # fmt: skip
    main = Table("Pooled over dimensions (3/2/1 scale)", ("scorer", "kind", "n", "accuracy [CI]", "macro-F1 [CI]",
                 "κ linear [CI]", "train s", "items/s", "peak memory"), tuple(pooled))  # fmt: skip
    per_dim = tuple((s["name"], bilingual(Dimension(d)), str(g["n"]), *_figure_cells(g))
                    for s in results["scorers"] for d, g in s["dimensions"].items())  # fmt: skip
    dims = Table("Per dimension", ("scorer", "dimension", "n", "accuracy [CI]", "macro-F1 [CI]", "κ linear [CI]"),
                 per_dim)  # fmt: skip
    tests = tuple((c["a"], c["b"], str(c["n"]), pts_ci(c["diff"], c["diff_ci"]),
                   "—" if c["p_value"] is None else f"{c['p_value']:.3g}") for c in results["comparisons"])  # fmt: skip
    pairs = Table("Paired comparisons of accuracy (B − A, same labels)", ("A", "B", "n", "B − A [CI]", "p"), tests)
    scorers = Section("Scorers 评分器", charts=("f1",), tables=(main, dims))
    return (scorers, Section("Paired tests 配对检验", tables=(pairs,))) if tests else (scorers,)


def _charts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    traces = []
    for s in results["scorers"]:
        keys = [d.value for d in DIMENSIONS if d.value in s["dimensions"]]
        f1 = [s["dimensions"][k]["macro_f1"] for k in keys] + [s["overall"]["macro_f1"]]
        traces.append(estimate_bars(s["name"], [*keys, "pooled"], f1, scale=1.0))
    layout = chart_layout("Macro-F1 per dimension 各维度宏平均 F1", yaxis={"range": [0, 1.05]})
    return {"f1": {"data": traces, "layout": layout}}
