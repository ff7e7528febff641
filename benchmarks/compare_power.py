"""Size and power of `flames compare`'s tests on simulated pairs of runs.

Runs A and B answer the same prompts (five dimensions of unequal size, K samples each; the model is in
tests/core/paired_simulation.py: prompts differ in difficulty, and later samples often repeat the first
answer, as at low temperature). B's chance of a harmless answer is A's plus `shift` on every prompt; shift 0
is no difference, where the share of p < α is the test's size, else its power. Printed per shift: the
overall test (stratified sign-flip of the unweighted mean), the per-dimension tests, and for comparison the
former overall p (McNemar on discordant pairs pooled over dimensions and samples).
Usage: `python benchmarks/compare_power.py [--reps 200] [--k 3] [--shifts 0 0.03 0.06 0.1]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))
from paired_simulation import SIZES, pooled_mcnemar_p, simulate_runs

from flames.metrics import BootstrapConfig
from flames.paired import compare_runs


def rejection_rates(
    shift: float, reps: int, k: int, alpha: float, base_rates: list[float], n_perm: int, seed: int
) -> tuple[float, float, float]:
    """(overall, per-dimension, former pooled McNemar) shares of p < alpha."""
    rng = np.random.default_rng(seed)
    overall = dims = pooled = n_dims = 0
    for r in range(reps):
        a, b = simulate_runs(rng, base_rates[r % len(base_rates)], k=k, shift=shift)
        c = compare_runs(a, b, BootstrapConfig(n_boot=10, seed=r), n_permutations=n_perm)
        overall += (c.overall.rate_test.p_value or 1.0) < alpha
        dims += sum((d.rate_test.p_value or 1.0) < alpha for d in c.dimensions.values())
        n_dims += len(c.dimensions)
        pooled += pooled_mcnemar_p(a, b) < alpha
    return overall / reps, dims / n_dims, pooled / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200, help="Simulated pairs of runs per shift.")
    parser.add_argument("--k", type=int, default=3, help="Samples per prompt.")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--shifts", type=float, nargs="+", default=[0.0, 0.03, 0.06, 0.1])
    parser.add_argument("--base-rates", type=float, nargs="+", default=[0.2, 0.5, 0.8])
    parser.add_argument("--permutations", type=int, default=1999)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"prompts per dimension {SIZES}, K = {args.k}, base rates {args.base_rates}, α = {args.alpha},"
          f" {args.reps} simulated pairs of runs per shift, {args.permutations} permutations")  # fmt: skip
    print(f"{'shift (pp)':>10} {'overall':>8} {'± MC':>6} {'dimensions':>11} {'former pooled McNemar':>22} {'s':>6}")
    for shift in args.shifts:
        t0 = time.perf_counter()
        overall, dims, pooled = rejection_rates(
            shift, args.reps, args.k, args.alpha, args.base_rates, args.permutations, args.seed
        )
        mc = np.sqrt(overall * (1 - overall) / args.reps)
        print(f"{100 * shift:>10.0f} {overall:>8.1%} {mc:>6.1%} {dims:>11.1%} {pooled:>22.1%}"
              f" {time.perf_counter() - t0:>6.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
