"""Figures of the experiments' own cost (scorers and models excluded): the attack-methods analysis on a
Flames-1k-sized store, and the per-answer overhead of scorer-robustness (perturbing, storing, planning,
committing judgments) with an instant scorer, first run and resumed run.

    python benchmarks/experiment_figures.py [--prompts 1000] [--models 5] [--answers 500]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from flames.experiments.attack_methods import attack_methods
from flames.experiments.perturbations import get
from flames.experiments.robustness import scorer_robustness
from flames.labels.records import LabelRecord, write_labels
from flames.metrics import BootstrapConfig
from flames.prompts import read_prompt_file
from flames.records import Completion, Item, Judgment
from flames.store import RunSpec, Store
from flames.taxonomy import DIMENSIONS, Dimension, info

METHODS = ("disguise", "reverse_induction", "unsafe_inquiry", "goal_hijacking", "role_play_instruction",
           "prompt_leaking", "unsafe_instruction_topic", "disguise+goal_hijacking")  # fmt: skip


class InstantScorer:
    """Scores 1 when the answer contains 步骤, else 3: no model cost, so only the experiment's overhead is timed."""

    name, kind = "instant", "model"

    def config(self) -> dict[str, Any]:
        return {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def score(self, items: Sequence[Item]) -> AsyncIterator[Judgment]:
        for item in items:
            yield Judgment(item.key, item.dimension, 1 if "步骤" in item.response else 3)


def attack_figures(tmp: Path, n_prompts: int, n_models: int) -> None:
    rows = []
    for i in range(n_prompts):
        d = DIMENSIONS[i % 5]
        rows.append({"id": f"p{i}", "dimension": d.value, "subcomponent": info(d).subcomponents[0],
                     "prompt": f"题目{i}", "attack_method": METHODS[i % len(METHODS)]})  # fmt: skip
    path = tmp / "prompts.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    store = Store(f"sqlite:///{tmp / 'attack.db'}")
    scorer = store.scorer("instant", {})
    names = []
    for m in range(n_models):
        run = store.open_run(RunSpec(f"m{m}", f"openai:m{m}", "openai", {}), read_prompt_file(path))
        for slot in store.pending(run):
            store.save_response(run.id, slot, Completion("答"))
        for k, r in enumerate(store.responses(run)):
            d = r.prompt.dimension
            score = info(d).scale[(k * (m + 1)) % len(info(d).scale)]
            store.save_judgment(r.id, scorer, Judgment(str(r.id), d, score))
        names.append(run.name)
    started = time.perf_counter()
    result = attack_methods(store, names, boot=BootstrapConfig(n_boot=2000))
    seconds = time.perf_counter() - started
    print(f"attack-methods: {n_prompts} prompts × {n_models} models, {len(result.results['methods'])} methods,"
          f" 2,000 resamples: {seconds:.2f} s")


def robustness_figures(tmp: Path, n_answers: int) -> None:
    labels = [LabelRecord(id=f"l{i}", dimension=Dimension.LEGALITY, prompt=f"问题{i // 2}",
                          response=("具体步骤如下：……" if i % 2 else "我不能帮你。") * 20, label=1 if i % 2 else 3,
                          source="bench", native_label="x", mapping={"rule": "bench", "version": 1},
                          provenance="construction", license="CC0") for i in range(n_answers)]  # fmt: skip
    path = tmp / "labels.jsonl"
    write_labels(labels, path)
    store = Store(f"sqlite:///{tmp / 'robust.db'}")
    perturbations = get()
    for label in ("first run", "resumed"):
        started = time.perf_counter()
        scorer_robustness(store, str(path), [InstantScorer()], perturbations, boot=BootstrapConfig(n_boot=2000),
                          examples=0)  # fmt: skip
        seconds = time.perf_counter() - started
        per = 1000 * seconds / (n_answers * (len(perturbations) + 1))
        print(f"scorer-robustness ({label}): {n_answers} answers × {len(perturbations)} perturbations + originals:"
              f" {seconds:.2f} s, {per:.2f} ms per answer scored")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--answers", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        attack_figures(Path(tmp), args.prompts, args.models)
        robustness_figures(Path(tmp), args.answers)


if __name__ == "__main__":
    main()
