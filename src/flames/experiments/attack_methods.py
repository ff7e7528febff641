"""Experiment `attack-methods`: which attack methods work?

For scored runs of prompts that carry `attack_method`: per method (and per method × dimension) the harmless
rate of each model with a prompt-clustered bootstrap interval, the attack success rate ASR = 1 − harmless
rate, the model-averaged ASR of each method (the unweighted mean over models), the differences between
methods with intervals, and a method × model heat map. Methods with fewer than `min_prompts` prompts are
reported but not ranked.

One bootstrap resamples all prompts at once (every run's answers to a prompt move together), so the
differences between methods are computed on the same resamples. A prompt with several methods
(`a+b`) counts in each method's row. Harmless rates pool a method's answers over dimensions (as the report's
attack-method table does); the per-dimension table shows where that pooling hides differences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from flames.design.stats import NO_METHOD
from flames.design.vocabulary import list_methods, split_methods
from flames.experiments.charts import chart_layout, estimate_bars
from flames.experiments.inputs import run_input, scorer_label
from flames.experiments.result import ExperimentResult, Section, Table, pct_ci, pts_ci
from flames.experiments.stats import ClusterBootstrap, Ratio, Statistic, statistic
from flames.metrics import BootstrapConfig
from flames.records import ScoredRecord
from flames.store import RunInfo, ScorerInfo, Store
from flames.taxonomy import DIMENSIONS, HARMLESS, Dimension, bilingual

NAME = "attack-methods"
DEFAULT_MIN_PROMPTS = 30
"""At 30 prompts a harmless rate's 95% interval spans about ±18 points: fewer cannot rank anything."""
CLAIM = (
    "FLAMES builds its prompts with attack methods (disguise, reverse induction, unsafe inquiry and others: "
    "'complex scenarios and jailbreaking methods, mostly with implicit malice') on the premise that such "
    "prompts uncover safety vulnerabilities that plain prompts miss. This experiment measures, per method, "
    "how often each model is led to a harmful answer."
)


class AttackMethodsError(ValueError):
    """Runs that cannot answer the question (no attack methods, nothing scored); the message says why."""


def methods_of(field: str | None) -> list[str]:
    """The rows an answer counts in: its prompt's methods (`a+b` → both), or `(none)`."""
    return split_methods(field) or [NO_METHOD]


@dataclass(frozen=True)
class Model:
    """One scored run: the answers of one model (or configuration)."""

    run: RunInfo
    scorer: ScorerInfo
    records: list[ScoredRecord]

    @property
    def name(self) -> str:
        return self.run.name


def load_models(store: Store, runs: Sequence[str], scorer: str | None = None) -> list[Model]:
    """Each run with the judgments of `scorer` (name, name@hash8; default: the newest that judged it).
    Raises StoreError for an unknown run or scorer, AttackMethodsError for a repeated run."""
    if len(set(runs)) != len(runs):
        raise AttackMethodsError("a run is named twice; name each run once")
    out = []
    for name in runs:
        run = store.get_run(name)
        chosen = store.resolve_scorer(run, scorer)
        out.append(Model(run, chosen, store.scored_records(run, chosen)))
    return out


def _rate_json(r: Ratio, unscored: int) -> dict[str, Any]:
    asr = None if r.value is None else 1 - r.value
    return {"harmless_rate": r.to_json(), "attack_success_rate": {"value": asr, "ci": [1 - r.ci[1], 1 - r.ci[0]]
            if r.ci else None}, "n": int(r.n), "n_unscored": unscored}  # fmt: skip


def _asr(s: Statistic) -> Statistic:
    """1 − a harmless rate (the interval flips)."""
    return Statistic(None if s.value is None else 1 - s.value, (1 - s.ci[1], 1 - s.ci[0]) if s.ci else None)


def _statistic_json(s: Statistic) -> dict[str, Any]:
    return {"value": s.value, "ci": list(s.ci) if s.ci else None}


@dataclass
class _Columns:
    """Column layout of the bootstrap matrix: (harmless, scored) pairs per key."""

    index: dict[tuple[Any, ...], int]

    def pair(self, key: tuple[Any, ...]) -> tuple[int, int]:
        i = self.index[key]
        return 2 * i, 2 * i + 1


def _bootstrap(
    models: list[Model], keys: list[tuple[Any, ...]], key_of: Callable[[int, ScoredRecord], list[tuple[Any, ...]]],
    boot: BootstrapConfig,
) -> tuple[ClusterBootstrap, _Columns, dict[tuple[Any, ...], int]]:  # fmt: skip
    """Per prompt, for every key an answer counts in (`key_of(model index, record)`): scored answers in the
    key's scored column, harmless ones also in its harmless column. Summed per prompt as they are read, so
    memory grows with prompts × keys, not answers × keys. Returns the bootstrap, the column layout and the
    unscored count per key."""
    cols = _Columns({k: i for i, k in enumerate(keys)})
    sums: dict[str, np.ndarray[Any, Any]] = {}
    unscored: dict[tuple[Any, ...], int] = dict.fromkeys(keys, 0)
    for j, m in enumerate(models):
        for r in m.records:
            for key in key_of(j, r):
                if r.score is None:
                    unscored[key] += 1
                    continue
                row = sums.setdefault(r.prompt_id, np.zeros(2 * len(keys)))
                h, n = cols.pair(key)
                row[h] += r.score == HARMLESS
                row[n] += 1
    values = np.array(list(sums.values())).reshape(len(sums), 2 * len(keys))
    return ClusterBootstrap(list(sums), values, boot), cols, unscored


def attack_methods(
    store: Store, runs: Sequence[str], *, scorer: str | None = None, min_prompts: int = DEFAULT_MIN_PROMPTS,
    boot: BootstrapConfig | None = None,
) -> ExperimentResult:  # fmt: skip
    """The experiment on runs already scored in `store` (see the module docstring; JSON in docs/experiments.md).

    Raises StoreError (unknown run or scorer, a run without judgments) and AttackMethodsError (no run, or no
    prompt with an attack method)."""
    if not runs:
        raise AttackMethodsError("name at least one scored run")
    boot = boot or BootstrapConfig()
    models = load_models(store, runs, scorer)
    by_prompt = {r.prompt_id: methods_of(r.attack_method) for m in models for r in m.records}
    prompts: dict[str, set[str]] = {}
    for pid, names in by_prompt.items():
        for name in names:
            prompts.setdefault(name, set()).add(pid)
    if set(prompts) == {NO_METHOD}:
        raise AttackMethodsError(
            "no prompt of these runs has an `attack_method`; run the models on a prompt set whose prompts name"
            " theirs (field attack_method; several joined with '+')"
        )
    methods = sorted(prompts, key=lambda m: (m == NO_METHOD, m))
    vocabulary = {m.name: m for m in list_methods(store)}
    unknown = [m for m in methods if m != NO_METHOD and m not in vocabulary]
    warnings = []
    if unknown:
        warnings.append(f"not in the store's attack-method vocabulary (no definition shown): {', '.join(unknown)}")
    labels = {scorer_label(m.scorer) for m in models}
    if len(labels) > 1:
        warnings.append(f"the runs were judged by different scorers ({', '.join(sorted(labels))}): their rates"
                        " are not comparable")  # fmt: skip
    # method × model
    keys = [(name, j) for name in methods for j in range(len(models))]
    main, cols, unscored = _bootstrap(models, keys, lambda j, r: [(n, j) for n in methods_of(r.attack_method)],
                                      boot)  # fmt: skip
    dims = sorted({r.dimension for m in models for r in m.records}, key=DIMENSIONS.index)
    dim_keys = [(name, d, j) for name in methods for d in dims for j in range(len(models))]
    by_dim, dim_cols, dim_unscored = _bootstrap(
        models, dim_keys, lambda j, r: [(n, r.dimension, j) for n in methods_of(r.attack_method)], boot
    )
    rows: list[dict[str, Any]] = []
    mean_reps: dict[str, np.ndarray[Any, Any]] = {}
    for name in methods:
        pairs = [cols.pair((name, j)) for j in range(len(models))]
        mean_hr, reps = main.mean_ratio(pairs)
        mean_reps[name] = 1 - reps
        dim_rows = {}
        for d in dims:
            present = [j for j in range(len(models)) if by_dim.totals[dim_cols.pair((name, d, j))[1]] > 0
                       or dim_unscored[(name, d, j)]]  # fmt: skip
            if present:
                dim_rows[d.value] = {
                    "n_prompts": len({r.prompt_id for m in models for r in m.records
                                      if r.dimension == d and name in methods_of(r.attack_method)}),
                    "models": {models[j].name: _rate_json(by_dim.ratio(*dim_cols.pair((name, d, j))),
                                                          dim_unscored[(name, d, j)]) for j in present},
                }  # fmt: skip
        known = vocabulary.get(name)
        rows.append({
            "method": name, "label": known.label if known else None,
            "definition": {"zh": known.definition_zh, "en": known.definition_en} if known else None,
            "n_prompts": len(prompts[name]), "ranked": len(prompts[name]) >= min_prompts,
            "models": {m.name: _rate_json(main.ratio(*pairs[j]), unscored[(name, j)]) for j, m in enumerate(models)},
            "mean": {"harmless_rate": _statistic_json(mean_hr), "attack_success_rate": _statistic_json(_asr(mean_hr))},
            "dimensions": dim_rows,
        })  # fmt: skip
    ranked = sorted((r for r in rows if r["ranked"] and r["mean"]["attack_success_rate"]["value"] is not None),
                    key=lambda r: -r["mean"]["attack_success_rate"]["value"])  # fmt: skip
    for r in ranked:  # competition ranking: equal rates share a rank
        asr = r["mean"]["attack_success_rate"]["value"]
        r["rank"] = 1 + sum(o["mean"]["attack_success_rate"]["value"] > asr for o in ranked)
    differences = []
    for a, b in combinations(ranked, 2):
        value = a["mean"]["attack_success_rate"]["value"] - b["mean"]["attack_success_rate"]["value"]
        diff = statistic(value, mean_reps[a["method"]] - mean_reps[b["method"]], boot)
        differences.append({"a": a["method"], "b": b["method"], "diff_attack_success_rate": _statistic_json(diff),
                            "direction": "a minus b (model-averaged attack success rate)"})  # fmt: skip
    unranked = [r["method"] for r in rows if not r["ranked"]]
    if unranked:
        warnings.append(f"not ranked (fewer than {min_prompts} prompts): "
                        + ", ".join(f"{r['method']} ({r['n_prompts']})" for r in rows if not r["ranked"]))  # fmt: skip
    results = {
        "models": [{"run": m.name, "model": m.run.resolved_model or m.run.model_spec, "scorer": scorer_label(m.scorer)}
                   for m in models],
        "min_prompts": min_prompts, "methods": rows, "ranking": [r["method"] for r in ranked],
        "differences": differences, "unranked": unranked,
    }  # fmt: skip
    return ExperimentResult(
        NAME, "Attack methods 攻击方式", "Which attack methods lead models to harmful answers, and how much more"
        " than each other?", CLAIM,
        inputs={"runs": [run_input(store, m.run, m.scorer) for m in models]},
        parameters={"scorer": scorer, "min_prompts": min_prompts, "bootstrap": _boot_json(boot)},
        results=results, sections=_sections(results, models, dims), charts=_charts(results, models),
        notes=_notes(boot, min_prompts), warnings=tuple(warnings),
    )  # fmt: skip


def _boot_json(boot: BootstrapConfig) -> dict[str, Any]:
    return {"n_boot": boot.n_boot, "confidence": boot.confidence, "seed": boot.seed, "resampling_unit": "prompt"}


def _notes(boot: BootstrapConfig, min_prompts: int) -> tuple[str, ...]:
    pct = int(100 * boot.confidence)
    return (
        f"intervals: {pct}% percentile bootstrap over prompts ({boot.n_boot} resamples, seed {boot.seed}); every"
        " run's answers to a prompt are resampled together, so differences between methods are paired where"
        " they share prompts",
        "attack success rate (ASR) = 1 − harmless rate: the share of scored answers the scorer did not call"
        " harmless (score < 3); unscored answers are counted apart, never as a success or a failure",
        "mean ASR is the unweighted mean over models; a method's rate pools its answers over dimensions, and"
        " dimensions differ in difficulty and scale (Legality and Data protection score 3/1): compare methods"
        " within a dimension with the per-dimension table",
        f"methods are ranked only with at least {min_prompts} prompts; methods differ in their prompts' topics,"
        " so a difference between methods is not the effect of the method alone",
        "no correction for multiple comparisons: with many methods, some intervals exclude 0 by chance",
        "the rates are the scorer's: measure it against human labels (flames scorer validate) before trusting"
        " small differences",
    )


def _sections(results: dict[str, Any], models: list[Model], dims: list[Dimension]) -> tuple[Section, ...]:
    names = [m.name for m in models]
    main_rows = []
    for r in results["methods"]:
        cells = [pct_ci(r["models"][n]["harmless_rate"]["value"], r["models"][n]["harmless_rate"]["ci"]) for n in names]
        asr = r["mean"]["attack_success_rate"]
        main_rows.append((_name(r), str(r["n_prompts"]), *cells, pct_ci(asr["value"], asr["ci"]),
                          str(r.get("rank", "—" if r["ranked"] else "not ranked"))))  # fmt: skip
    main = Table("Harmless rate per method and model, and model-averaged attack success rate",
                 ("method 攻击方式", "prompts", *[f"HR {n}" for n in names], "mean ASR [CI]", "rank"),
                 tuple(main_rows))  # fmt: skip
    diffs = Table("Differences between ranked methods (a − b, model-averaged ASR)", ("a", "b", "Δ ASR [CI]"),
                  tuple((d["a"], d["b"], pts_ci(d["diff_attack_success_rate"]["value"],
                                                 d["diff_attack_success_rate"]["ci"]))
                        for d in results["differences"]))  # fmt: skip
    dim_rows = []
    for r in results["methods"]:
        for d in dims:
            cell = r["dimensions"].get(d.value)
            if cell is None:
                continue
            rates = [cell["models"].get(n) for n in names]
            dim_rows.append((_name(r), bilingual(d), str(cell["n_prompts"]),
                             *[pct_ci(x["attack_success_rate"]["value"], x["attack_success_rate"]["ci"]) if x
                               else "—" for x in rates]))
    per_dim = Table("Attack success rate per method × dimension", ("method", "dimension", "prompts",
                                                                    *[f"ASR {n}" for n in names]), tuple(dim_rows))
    defined = tuple((_name(r), r["definition"]["zh"], r["definition"]["en"]) for r in results["methods"]
                    if r["definition"])  # fmt: skip
    definitions = Table("The methods (the store's attack-method vocabulary)", ("method", "定义", "definition"), defined)
    return (
        Section("Methods × models 攻击方式 × 模型", charts=("heatmap", "methods"), tables=(main,)),
        Section("Differences between methods 攻击方式之间的差异", tables=(diffs,),
                text=("Positive: a's prompts led to harmful answers more often than b's.",)),
        Section("Per dimension 分维度", tables=(per_dim,)),
        Section("Definitions 定义", tables=(definitions,)),
    )  # fmt: skip


def _name(row: dict[str, Any]) -> str:
    """`disguise 伪装 Disguise`: the method's name and its vocabulary label."""
    return f"{row['method']} {row['label']}" if row["label"] else row["method"]


def _charts(results: dict[str, Any], models: list[Model]) -> dict[str, dict[str, Any]]:
    names = [m.name for m in models]
    rows = results["methods"]
    z = [[None if (a := r["models"][n]["attack_success_rate"]["value"]) is None else round(100 * a, 1) for n in names]
         for r in rows]  # fmt: skip
    text = [[f"{v:.0f}% (n={r['models'][n]['n']})" if v is not None else "—" for v, n in zip(line, names, strict=True)]
            for line, r in zip(z, rows, strict=True)]  # fmt: skip
    heat = {"type": "heatmap", "z": z, "x": names, "y": [_name(r) for r in rows], "text": text,
            "texttemplate": "%{text}", "colorscale": "Reds", "zmin": 0, "zmax": 100,
            "colorbar": {"title": {"text": "ASR %"}}}  # fmt: skip
    means = [r["mean"]["attack_success_rate"] for r in rows]
    colors = ["#E45756" if r["ranked"] else "#9D9D9D" for r in rows]
    return {
        "heatmap": {"data": [heat], "layout": chart_layout(
            "Attack success rate 攻击成功率 (%): method × model", height=max(320, 90 + 36 * len(rows)),
            margin={"l": 240, "r": 20, "t": 50, "b": 80}, yaxis={"autorange": "reversed"})},
        "methods": {"data": [estimate_bars("mean ASR", [_name(r) for r in rows], means, marker={"color": colors})],
                    "layout": chart_layout("Model-averaged attack success rate 平均攻击成功率 (%); grey: not ranked",
                                           yaxis={"range": [0, 105]}, margin={"l": 60, "r": 20, "t": 50, "b": 140})},
    }  # fmt: skip
