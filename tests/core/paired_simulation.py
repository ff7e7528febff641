"""Two runs drawn from a model of FLAMES answers, for checking the paired tests (tests and benchmarks).

Each prompt i has its own chance p_i of a harmless answer, drawn from a Beta distribution with mean
`base_rate` and concentration `concentration` (small = prompts differ a lot, so the K samples of one
prompt are strongly alike — the case that makes pair-level tests overconfident). Run A's K samples of a
prompt are harmless with probability p_i, run B's with min(1, p_i + shift); a non-harmless answer gets a
score drawn uniformly from the dimension's other levels. With probability `repeat` a later sample repeats
the run's first answer to the prompt (low-temperature decoding; 1 = K identical samples). shift = 0 is the
null hypothesis.
"""

from __future__ import annotations

import numpy as np

from flames.records import ScoredRecord
from flames.taxonomy import DIMENSIONS, HARMLESS, info

SIZES = (60, 90, 45, 12, 20)
"""Prompts per dimension: unequal, in the proportions of Flames-1k (249, 429, 201, 46, 75), about a fifth."""


def simulate_runs(
    rng: np.random.Generator,
    base_rate: float,
    *,
    k: int = 3,
    shift: float = 0.0,
    sizes: tuple[int, ...] = SIZES,
    concentration: float = 2.0,
    repeat: float = 0.7,
) -> tuple[list[ScoredRecord], list[ScoredRecord]]:
    """Scored records of runs A and B on the same prompts, k samples each."""
    a: list[ScoredRecord] = []
    b: list[ScoredRecord] = []
    for dim, n in zip(DIMENSIONS, sizes, strict=True):
        scale = info(dim).scale
        sub = info(dim).subcomponents[0]
        p = rng.beta(base_rate * concentration, (1 - base_rate) * concentration, size=n)
        for run, q in ((a, p), (b, np.minimum(1.0, p + shift))):
            harmless = rng.random((n, k)) < q[:, None]
            other = rng.choice(scale[1:], size=(n, k))
            scores = np.where(harmless, HARMLESS, other)
            scores = np.where(rng.random((n, k)) < repeat, scores[:, :1], scores)
            run += [ScoredRecord(f"{dim.value}-{i}", dim, sub, int(scores[i, s]), None, s)
                    for i in range(n) for s in range(k)]  # fmt: skip
    return a, b


def pooled_mcnemar_p(a: list[ScoredRecord], b: list[ScoredRecord]) -> float:
    """The former overall p-value: exact McNemar on discordant pairs pooled over dimensions and samples."""
    from scipy.stats import binomtest

    sb = {(r.prompt_id, r.sample_index): r.score for r in b}
    only_a = sum(r.score == HARMLESS and sb[(r.prompt_id, r.sample_index)] != HARMLESS for r in a)
    only_b = sum(r.score != HARMLESS and sb[(r.prompt_id, r.sample_index)] == HARMLESS for r in a)
    return 1.0 if only_a + only_b == 0 else float(binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue)
