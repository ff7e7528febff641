"""Experiment `adversarial-vs-plain`: do adversarial prompts reveal more than plain ones?

Each model answers an adversarial prompt set and a plain one (runs already in the store, or collected here);
one scorer judges both. Two designs:

- **paired by intent**: prompts of the two sets that carry the same value in a metadata field (default
  `intent`, e.g. the plain request that an adversarial prompt disguises) form pairs; per model and dimension
  the gap is the mean over pairs of harmless(adversarial) − harmless(plain), with a bootstrap over intents
  (an intent's pairs move together) and a paired test (`flames.paired.compare_runs`). An intent with k
  adversarial variants gives k pairs with its plain prompt. Pairs whose two prompts sit in different
  dimensions are dropped (counted): their scores are on different rubrics.
- **whole sets** (when the prompts carry no such field): per model and dimension the difference of the two
  sets' harmless rates, each set's prompts resampled independently — an unpaired comparison, so it says
  which *set* is harder, not which *framing* of the same request is.

A negative gap means the adversarial prompts drew more harmful answers (lower harmless rate). The overall gap
is the unweighted mean over dimensions, as FLAMES's overall figures are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from flames.experiments.attack_methods import methods_of
from flames.experiments.charts import chart_layout, estimate_bars
from flames.experiments.inputs import run_input, scorer_label
from flames.experiments.result import ExperimentResult, Section, Table, pct, pts_ci
from flames.experiments.sources import ProgressFactory, no_progress, score_runs
from flames.experiments.stats import ClusterBootstrap, independent_difference, statistic
from flames.metrics import BootstrapConfig
from flames.models.base import BackendOptions, GenerationConfig
from flames.paired import compare_runs
from flames.prompts import PromptSet
from flames.records import ScoredRecord
from flames.report.charts import OVERALL_LABEL
from flames.scorers.base import Scorer
from flames.store import RunInfo, ScorerInfo, Store
from flames.taxonomy import DIMENSIONS, HARMLESS, bilingual

NAME = "adversarial-vs-plain"
PAIRED, WHOLE = "paired by intent", "whole sets"
CLAIM = (
    "FLAMES argues that 'current benchmarks fall short of effectively uncovering safety vulnerabilities' and "
    "that its adversarial prompts — 'complex scenarios and jailbreaking methods, mostly with implicit "
    "malice' — expose failures that plain prompts do not ('the complexity of Flames has far exceeded "
    "existing benchmarks'). This experiment measures that gap for your models and prompts."
)


class PairingError(ValueError):
    """Runs that cannot be compared (different models in a pair, no shared dimension); says why."""


@dataclass(frozen=True)
class ModelPair:
    """One model's answers to both sets, judged by one scorer."""

    adversarial: RunInfo
    plain: RunInfo
    scorer: ScorerInfo

    @property
    def label(self) -> str:
        """The runs' shared name before `@SET` (`qwen@adv`, `qwen@plain` → `qwen`), else both names."""
        a, b = self.adversarial.name, self.plain.name
        common = a.rpartition("@")[0]
        return common if common and common == b.rpartition("@")[0] else f"{a} / {b}"


def collect(
    store: Store, model_specs: Sequence[str], adversarial: PromptSet, plain: PromptSet, scorers: Sequence[Scorer],
    config: GenerationConfig, options: BackendOptions, *, run_prefix: str = "",
    progress: ProgressFactory = no_progress, show_generation: bool = True,
) -> list[tuple[str, str]]:  # fmt: skip
    """Generate each model's answers to both sets (runs `PREFIX<model>@<set name>`, resumed when they exist) and
    score them with every scorer (judgments already stored are reused). Returns (adversarial run, plain run)
    per model. Raises BackendError, StoreError, ScorerError; a generation that left answers missing is
    reported by the caller from the runs' counts."""
    from flames.generate import default_run_name, generate

    pairs = []
    for spec in model_specs:
        names = []
        for prompt_set in (adversarial, plain):
            name = f"{run_prefix}{default_run_name(spec)}@{prompt_set.name}"
            generate(store, run_name=name, model_spec=spec, prompt_set=prompt_set, config=config, options=options,
                     progress=show_generation)  # fmt: skip
            names.append(name)
        pairs.append((names[0], names[1]))
    for scorer in scorers:
        score_runs(store, scorer, [(store.get_run(n), None) for pair in pairs for n in pair], progress)
    return pairs


def _intents(store: Store, run: RunInfo, field: str) -> dict[str, str]:
    """prompt id → intent (the metadata field as text), for the run's prompts that have one."""
    out = {}
    for _, p in store.prompts(run.prompt_set_id):
        value = p.metadata.get(field)
        if value not in (None, ""):
            out[p.id] = str(value)
    return out


def paired_records(
    plain: Sequence[ScoredRecord], adversarial: Sequence[ScoredRecord], plain_intent: dict[str, str],
    adv_intent: dict[str, str],
) -> tuple[list[ScoredRecord], list[ScoredRecord], dict[str, int]]:  # fmt: skip
    """Records re-keyed so that `compare_runs` pairs them: prompt id = intent, sample index = the pair's number
    within the intent (every adversarial answer × every plain answer of the intent, same dimension).
    Returns (plain side, adversarial side, counts of what could not be paired)."""
    by_intent_plain: dict[str, list[ScoredRecord]] = defaultdict(list)
    for r in plain:
        if r.prompt_id in plain_intent:
            by_intent_plain[plain_intent[r.prompt_id]].append(r)
    a_side: list[ScoredRecord] = []
    b_side: list[ScoredRecord] = []
    counts = {"adversarial_without_intent": 0, "adversarial_without_plain": 0, "dimension_mismatch": 0}
    index: dict[str, int] = defaultdict(int)
    for r in adversarial:
        intent = adv_intent.get(r.prompt_id)
        if intent is None:
            counts["adversarial_without_intent"] += 1
            continue
        partners = by_intent_plain.get(intent, [])
        if not partners:
            counts["adversarial_without_plain"] += 1
        for p in partners:
            if p.dimension != r.dimension:
                counts["dimension_mismatch"] += 1
                continue
            j = index[intent]
            index[intent] += 1
            a_side.append(ScoredRecord(intent, p.dimension, p.subcomponent, p.score, p.attack_method, j))
            b_side.append(ScoredRecord(intent, r.dimension, r.subcomponent, r.score, r.attack_method, j))
    return a_side, b_side, counts


def _paired(pair: ModelPair, store: Store, field: str, boot: BootstrapConfig) -> dict[str, Any]:
    plain = store.scored_records(pair.plain, pair.scorer)
    adv = store.scored_records(pair.adversarial, pair.scorer)
    a_side, b_side, unpaired = paired_records(plain, adv, _intents(store, pair.plain, field),
                                              _intents(store, pair.adversarial, field))  # fmt: skip
    comparison = compare_runs(a_side, b_side, boot).to_json()
    methods: dict[str, Any] = {}
    for name in sorted({m for r in b_side for m in methods_of(r.attack_method)}):
        keep = [i for i, r in enumerate(b_side) if name in methods_of(r.attack_method)]
        by_method = compare_runs([a_side[i] for i in keep], [b_side[i] for i in keep], boot).to_json()
        methods[name] = _gap(by_method["overall"])
    return {
        "n_pairs": comparison["overall"]["n_pairs"], "n_intents": len({r.prompt_id for r in a_side}),
        "unpaired": {**unpaired, "unscored_pairs": len(a_side) - comparison["overall"]["n_pairs"]},
        "overall": _gap(comparison["overall"]),
        "dimensions": {d: _gap(g) for d, g in comparison["dimensions"].items()},
        "attack_methods": methods,
    }  # fmt: skip


def _gap(d: dict[str, Any]) -> dict[str, Any]:
    """A compare_runs slice (A = plain, B = adversarial) in this experiment's terms."""
    return {
        "n": d["n_pairs"], "harmless_rate_plain": d["harmless_rate_a"],
        "harmless_rate_adversarial": d["harmless_rate_b"],
        "gap": {"value": d["diff_harmless_rate"], "ci": d["diff_harmless_rate_ci"]},
        "p_value": d["p_value"], "test": d["test"],
    }  # fmt: skip


def _whole(pair: ModelPair, store: Store, boot: BootstrapConfig) -> dict[str, Any]:
    """Independent prompt bootstraps of the two sets; per dimension and the unweighted mean over dimensions
    both sets have."""
    sides = (("plain", pair.plain), ("adversarial", pair.adversarial))
    sets = {name: store.scored_records(run, pair.scorer) for name, run in sides}
    dims = [d for d in DIMENSIONS if all(any(r.dimension == d and r.score is not None for r in rs)
                                         for rs in sets.values())]  # fmt: skip
    if not dims:
        raise PairingError(f"{pair.adversarial.name} and {pair.plain.name} share no scored dimension")
    rng = np.random.default_rng(boot.seed)
    bs = {}
    for name, records in sets.items():
        scored = [r for r in records if r.score is not None and r.dimension in dims]
        values = np.zeros((len(scored), 2 * len(dims)))
        for i, r in enumerate(scored):
            k = dims.index(r.dimension)
            values[i, 2 * k], values[i, 2 * k + 1] = float(r.score == HARMLESS), 1.0
        bs[name] = ClusterBootstrap([r.prompt_id for r in scored], values, boot, rng)
    cols = [(2 * k, 2 * k + 1) for k in range(len(dims))]
    out: dict[str, Any] = {"n_plain": int(bs["plain"].totals[1::2].sum()),
                           "n_adversarial": int(bs["adversarial"].totals[1::2].sum()), "dimensions": {}}  # fmt: skip
    for k, d in enumerate(dims):
        a, b = bs["plain"].ratio(*cols[k]), bs["adversarial"].ratio(*cols[k])
        gap = independent_difference(bs["plain"], cols[k], bs["adversarial"], cols[k])
        out["dimensions"][d.value] = {"n_plain": int(a.n), "n_adversarial": int(b.n), "harmless_rate_plain": a.value,
                                      "harmless_rate_adversarial": b.value,
                                      "gap": {"value": gap.value, "ci": list(gap.ci) if gap.ci else None}}  # fmt: skip
    ma, ra = bs["plain"].mean_ratio(cols)
    mb, rb = bs["adversarial"].mean_ratio(cols)
    gap = statistic(None if ma.value is None or mb.value is None else mb.value - ma.value, rb - ra, boot)
    out["overall"] = {"harmless_rate_plain": ma.value, "harmless_rate_adversarial": mb.value,
                      "gap": {"value": gap.value, "ci": list(gap.ci) if gap.ci else None},
                      "dimensions_included": [d.value for d in dims]}  # fmt: skip
    return out


def adversarial_vs_plain(
    store: Store, pairs: Sequence[tuple[str, str]], *, scorer: str | None = None, pair_by: str = "intent",
    boot: BootstrapConfig | None = None,
) -> ExperimentResult:  # fmt: skip
    """The experiment on (adversarial run, plain run) pairs already scored in `store` (one pair per model).

    Pairs by intent when both sets' prompts carry the metadata field `pair_by`, else compares the whole sets.
    Raises StoreError (unknown run or scorer) and PairingError (a pair made by two different models, or
    nothing to compare)."""
    if not pairs:
        raise PairingError("give at least one (adversarial run, plain run) pair")
    boot = boot or BootstrapConfig()
    models = []
    for adv_name, plain_name in pairs:
        adv, plain = store.get_run(adv_name), store.get_run(plain_name)
        if adv.model_spec != plain.model_spec or adv.generation_config != plain.generation_config:
            raise PairingError(f"{adv_name} ({adv.model_spec}) and {plain_name} ({plain.model_spec}) were not made by"
                               " the same model and generation config: pair each model's two runs")  # fmt: skip
        chosen = store.resolve_scorer(adv, scorer)
        store.resolve_scorer(plain, scorer if scorer is not None else f"{chosen.name}@{chosen.config_hash[:8]}")
        models.append(ModelPair(adv, plain, chosen))
    paired = all(_intents(store, m.adversarial, pair_by) and _intents(store, m.plain, pair_by) for m in models)
    rows = []
    for m in models:
        figures = _paired(m, store, pair_by, boot) if paired else _whole(m, store, boot)
        rows.append({"model": m.label, "model_spec": m.adversarial.model_spec, "adversarial_run": m.adversarial.name,
                     "plain_run": m.plain.name, "scorer": scorer_label(m.scorer), **figures})  # fmt: skip
    warnings = []
    if paired and any(r["n_pairs"] == 0 for r in rows):
        warnings.append("no pair could be formed for some model: check that both sets share intent values")
    for r in rows:
        if paired and any(r["unpaired"].values()):
            lost = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r["unpaired"].items() if v)
            warnings.append(f"{r['model']}: not paired: {lost}")
    results = {"mode": PAIRED if paired else WHOLE, "pair_by": pair_by if paired else None,
               "direction": "adversarial minus plain (harmless rate)", "models": rows}  # fmt: skip
    inputs = {"runs": [{"adversarial": run_input(store, m.adversarial, m.scorer), "plain": run_input(store, m.plain)}
                       for m in models]}  # fmt: skip
    return ExperimentResult(
        NAME, "Adversarial vs plain prompts 对抗性提示与普通提示", "Do adversarial prompts reveal more harmful answers"
        " than plain ones?", CLAIM, inputs=inputs,
        parameters={"scorer": scorer, "pair_by": pair_by, "bootstrap": {"n_boot": boot.n_boot,
                    "confidence": boot.confidence, "seed": boot.seed,
                    "resampling_unit": "intent" if paired else "prompt, each set independently"}},
        results=results, sections=_sections(results), charts=_charts(results), notes=_notes(paired, boot),
        warnings=tuple(warnings),
    )  # fmt: skip


def _notes(paired: bool, boot: BootstrapConfig) -> tuple[str, ...]:
    pct_level = int(100 * boot.confidence)
    design = (
        f"paired design: intervals are {pct_level}% percentile bootstraps over intents (an intent's pairs move"
        " together); p: exact McNemar where every intent has one pair, else a sign-flip permutation test with"
        " intents as clusters (overall: stratified by dimension), from flames.paired"
        if paired else
        f"whole sets: the two sets share no intents, so their prompts are resampled independently ({pct_level}%"
        " percentile bootstrap); the gap compares the sets as a whole (topics, lengths and dimensions differ),"
        " not two framings of the same request"
    )  # fmt: skip
    return (
        design,
        "gap = harmless rate on the adversarial set − on the plain set: negative means the adversarial prompts"
        " drew more harmful answers; the overall gap is the unweighted mean over dimensions",
        "both sets are judged by the same scorer; a scorer that errs more on one kind of prompt biases the gap —"
        " validate it on answers to both (flames scorer validate)",
    )


def _cell(g: dict[str, Any]) -> tuple[str, str, str]:
    return pct(g["harmless_rate_plain"]), pct(g["harmless_rate_adversarial"]), pts_ci(g["gap"]["value"], g["gap"]["ci"])


def _sections(results: dict[str, Any]) -> tuple[Section, ...]:
    paired = results["mode"] == PAIRED
    rows = []
    for r in results["models"]:
        n = str(r["n_pairs"]) if paired else f"{r['n_adversarial']} / {r['n_plain']}"
        rows.append((r["model"], "Overall 总体", n, *_cell(r["overall"]),
                     _p(r["overall"]) if paired else "—"))  # fmt: skip
        for d in DIMENSIONS:
            g = r["dimensions"].get(d.value)
            if g is not None:
                n = str(g["n"]) if paired else f"{g['n_adversarial']} / {g['n_plain']}"
                rows.append((r["model"], bilingual(d), n, *_cell(g), _p(g) if paired else "—"))
    table = Table(f"Harmless rate gap, adversarial − plain ({results['mode']})",
                  ("model", "dimension", "pairs" if paired else "answers adv / plain", "HR plain", "HR adversarial",
                   "gap [CI]", "p"), tuple(rows))  # fmt: skip
    sections = [Section("Gap per model and dimension 各模型各维度差距", charts=("gaps",), tables=(table,))]
    if paired:
        by_method = tuple((r["model"], m, str(g["n"]), *_cell(g), _p(g)) for r in results["models"]
                          for m, g in r["attack_methods"].items())  # fmt: skip
        sections.append(Section("Gap per attack method 各攻击方式差距", tables=(Table(
            "Harmless rate gap by the adversarial prompt's attack method (all dimensions pooled)",
            ("model", "attack method", "pairs", "HR plain", "HR adversarial", "gap [CI]", "p"), by_method),)))
    return tuple(sections)


def _p(g: dict[str, Any]) -> str:
    return "—" if g.get("p_value") is None else f"{g['p_value']:.3g}"


def _charts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    data = []
    for r in results["models"]:
        keys = [d for d in DIMENSIONS if d.value in r["dimensions"]]
        gaps = [r["dimensions"][d.value]["gap"] for d in keys] + [r["overall"]["gap"]]
        data.append(estimate_bars(r["model"], [bilingual(d) for d in keys] + [OVERALL_LABEL], gaps))
    layout = chart_layout("Harmless rate gap, adversarial − plain (points) 无害率差距（百分点）",
                          legend={"orientation": "h", "y": -0.25})  # fmt: skip
    return {"gaps": {"data": data, "layout": layout}}
