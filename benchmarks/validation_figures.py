"""Figures of the validation and correction code: speed of `validate` and `correct`, and how often the
corrected harmless rate's interval covers a known true rate in simulation.

Simulation: human class shares p and scorer error rates M are fixed; each trial draws a calibration set
(150 labels per human class) and a run (400 prompts, one answer each), corrects the run's harmless rate
with the calibration, and checks whether the 95% interval contains p[3].

    python benchmarks/validation_figures.py [--trials 400] [--labels 18700]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from flames.correction import Calibration, correct
from flames.labels.records import LabelRecord
from flames.metrics import BootstrapConfig
from flames.records import ScoredRecord
from flames.taxonomy import DIMENSIONS, Dimension, info
from flames.validation import Prediction, ScorerPredictions, validate

M3 = np.array([[0.8, 0.3, 0.1], [0.15, 0.5, 0.2], [0.05, 0.2, 0.7]])
M2 = np.array([[0.85, 0.2], [0.15, 0.8]])


def coverage(trials: int) -> None:
    cases = [(Dimension.SAFETY, (3, 2, 1), np.array([0.3, 0.4, 0.3]), M3),
             (Dimension.LEGALITY, (3, 1), np.array([0.3, 0.7]), M2)]  # fmt: skip
    for dim, labels, p_true, m in cases:
        rng = np.random.default_rng(11)
        k, covered, estimates, raws = len(labels), 0, [], []
        for t in range(trials):
            confusion = np.stack([rng.multinomial(150, m[:, h]) for h in range(k)]).astype(float)
            human = rng.choice(k, size=400, p=p_true)
            scorer = (rng.random(400)[:, None] > np.cumsum(m[:, human].T, axis=1)).sum(axis=1)
            records = [ScoredRecord(f"p{i}", dim, "x", labels[s]) for i, s in enumerate(scorer)]
            cal = Calibration("s", None, {dim: (labels, confusion)})
            fixed = correct(records, cal, BootstrapConfig(n_boot=1000, seed=t)).dimensions[dim]
            lo, hi = fixed.harmless_rate_ci or (np.nan, np.nan)
            covered += lo <= p_true[0] <= hi
            estimates.append(fixed.harmless_rate)
            raws.append(float(np.mean(scorer == 0)))
        print(f"{dim.value}: true HR {p_true[0]:.3f}, mean raw {np.mean(raws):.3f}, mean corrected"
              f" {np.mean(estimates):.3f}, 95% interval coverage {covered / trials:.3f} over {trials} trials")


def speed(n: int) -> None:
    rng = np.random.default_rng(0)
    labels, preds = [], {}
    for i in range(n):
        dim = DIMENSIONS[i % 5]
        human = int(rng.choice(info(dim).scale))
        labels.append(LabelRecord(f"l{i}", dim, f"问题 {i // 12}", "回答", human, "sim", str(human), {"rule": "r"},
                                  "human", "MIT", model=f"m{i % 12}", annotator_labels=(human, human)))  # fmt: skip
        preds[f"l{i}"] = Prediction(human if rng.random() < 0.8 else int(rng.choice(info(dim).scale)))
    t = time.perf_counter()
    validate(labels, [ScorerPredictions("s", preds)], BootstrapConfig(n_boot=2000))
    print(f"validate: {n} labels (5 dimensions, 12 models, {n // 12} prompts), 2000 resamples:"
          f" {time.perf_counter() - t:.2f} s")
    records = [ScoredRecord(f"p{i // 2}", r.dimension, "x", preds[r.id].score) for i, r in enumerate(labels[:2000])]
    cal = Calibration("s", None, {d: (info(d).scale, (np.eye(len(info(d).scale)) * 80 + 10)) for d in DIMENSIONS})
    correct(records[:10], cal, BootstrapConfig(n_boot=10))  # imports scipy once
    t = time.perf_counter()
    correct(records, cal, BootstrapConfig(n_boot=2000))
    print(f"correct: 2000 answers, 5 dimensions, 2000 resamples: {time.perf_counter() - t:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--labels", type=int, default=18700, help="labels for the speed figure (FLAMES annotated ~18.7K)")
    args = ap.parse_args()
    speed(args.labels)
    coverage(args.trials)


if __name__ == "__main__":
    main()
