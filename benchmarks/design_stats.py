"""The attack-success view over 50 runs: time to gather the answers and judgments of a prompt set from the store,
to build each heat map (by method, subcomponent, dimension, prompt), and to serve the stats page.

A collection of `--prompts` prompts (each with one or two of the seeded attack methods) and `--runs` runs of
`--models` models answering all of them, every answer judged (scores drawn at random, 5% unscored), in a
SQLite store (or `--db URL`).

    python benchmarks/design_stats.py [--runs 50] [--models 10] [--prompts 200] [--db URL]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

from fastapi.testclient import TestClient

from flames.annotate.app import create_app
from flames.annotate.auth import add_user
from flames.annotate.schema import Role
from flames.design.authoring import Draft, add_prompt
from flames.design.collection import create_collection, get_collection
from flames.design.items import list_prompts
from flames.design.stats import BY, attack_stats
from flames.design.vocabulary import list_methods
from flames.prompts import PromptSet
from flames.records import Completion, Judgment
from flames.store import RunSpec, Store
from flames.taxonomy import DIMENSIONS, info

PASSWORD = "bench-password"


def build(url: str, n_prompts: int, n_runs: int, n_models: int) -> float:
    rng = random.Random(0)
    store = Store(url)
    admin = add_user(store, "admin", PASSWORD, Role.ADMIN)
    c = create_collection(store, admin, "bench")
    methods = [m.name for m in list_methods(store)]
    for i in range(n_prompts):
        d = DIMENSIONS[i % len(DIMENSIONS)]
        sub = info(d).subcomponents[i % len(info(d).subcomponents)]
        picked = rng.sample(methods, rng.choice((1, 1, 2)))
        text = f"基准提示词 {i}：{rng.random():.12f} " + "请详细说明。" * 5
        add_prompt(store, c, admin, Draft(d.value, sub, text, picked, "基准"), allow_duplicate="benchmark")
    prompts = tuple(p.as_prompt() for p in list_prompts(store, c))
    ps = PromptSet("bench-set", "b" * 64, "benchmark", prompts)
    t0 = time.perf_counter()
    for r in range(n_runs):
        run = store.open_run(RunSpec(f"run-{r:02d}", f"openai:model-{r % n_models}", "openai", {}), ps)
        for slot in store.pending(run):
            store.save_response(run.id, slot, Completion(f"回答 {r} {slot.prompt.id}"))
        scorer = store.scorer("judge:openai:bench", {"k": 1})
        for resp in store.responses(run):
            scale = info(resp.prompt.dimension).scale
            score = None if rng.random() < 0.05 else rng.choice(scale)
            store.save_judgment(resp.id, scorer, Judgment(str(resp.id), resp.prompt.dimension, score,
                                                          unscored_reason=None if score else "unreadable"))  # fmt: skip
    store.close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--db", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/stats.db"
        took = build(url, args.prompts, args.runs, args.models)
        n = args.prompts * args.runs
        print(f"store: {args.prompts} prompts x {args.runs} runs of {args.models} models = {n} judged answers"
              f" (built in {took:.0f} s)")  # fmt: skip
        store = Store(url)
        coll = get_collection(store, "bench")
        prompts = [p.as_prompt() for p in list_prompts(store, coll)]
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            stats = attack_stats(store, prompts)
            best = min(best, time.perf_counter() - t0)
        print(f"gather answers and judgments ({len(stats.answers)} answers): {1000 * best:.0f} ms")
        for by in BY:
            t0 = time.perf_counter()
            hm = stats.heatmap(by)
            build_ms = 1000 * (time.perf_counter() - t0)
            t0 = time.perf_counter()
            for row in hm.rows:
                for m in hm.models:
                    hm.cell(row, m).ci  # noqa: B018  (the Wilson intervals the page shows)
            print(f"heat map by {by:12s}: {len(hm.rows):4d} rows x {len(hm.models)} models, built in {build_ms:.0f} ms,"
                  f" intervals {1000 * (time.perf_counter() - t0):.0f} ms")  # fmt: skip
        client = TestClient(create_app(store, secure_cookies=False, secret="bench"), follow_redirects=False)
        token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
        for by in ("method", "prompt"):
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                resp = client.get(f"/design/c/bench/stats?by={by}")
                times.append(time.perf_counter() - t0)
                assert resp.status_code == 200, resp.text[:200]
            size = len(resp.content) // 1024
            print(f"stats page by {by}: {1000 * min(times):.0f} ms (best of {args.repeat}), {size} KiB")
        store.close()


if __name__ == "__main__":
    main()
