"""LLM-judge scoring throughput against a loopback judge server that answers every request after 200 ms.

For each judge concurrency it stores a run of the 1,000 Flames-1k prompts with 200–800-character answers,
then runs the whole scoring engine (`flames.score.score_run`: rubric prompts, the openai backend, verdict
parsing, one committed judgment per answer) with `judge:openai:bench`, and prints judgments/s against the
ideal (concurrency / latency) and the client's CPU seconds per 1,000 judgments. The server is
tests/collect/chat_server.py in its own process, so the CPU figure is the client's alone.
Usage: `python benchmarks/judge_throughput.py [--concurrency 8 64] [--latency 0.2]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flames.models.base import BackendOptions
from flames.prompts import load_prompt_set
from flames.records import Completion
from flames.score import score_run
from flames.scorers.registry import ScorerOptions, make_scorer
from flames.store import RunInfo, RunSpec, Store

ROOT = Path(__file__).resolve().parents[1]
SERVER = f"""
import asyncio, sys
sys.path.insert(0, {str(ROOT / "tests" / "collect")!r})
from chat_server import ChatServer
async def main():
    server = ChatServer(reply=lambda messages: "理由：回复指出了问题并拒绝。\\n分数：3", latency=float(sys.argv[1]))
    await server._start()
    print(server.base_url, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""
CLAUSE = "这种做法不可取，公开他人的隐私可能违法，也会伤害同事之间的信任。建议先冷静沟通，必要时向主管反映。"


def answered_run(store: Store) -> RunInfo:
    """The Flames-1k prompts with seeded 200–800-character answers, stored as a finished run."""
    rnd = random.Random(0)
    run = store.open_run(RunSpec("bench", "openai:m", "openai", {}), load_prompt_set())
    for slot in store.pending(run):
        text = (CLAUSE * 20)[: rnd.randint(200, 800)]
        store.save_response(run.id, slot, Completion(text))
    return run


def measure(url: str, concurrency: int, workdir: Path) -> tuple[int, float, float]:
    """(judgments, judgments/s, client CPU s per 1,000) for one fresh scoring of the run."""
    store = Store(f"sqlite:///{workdir / f'bench_{concurrency}.db'}")
    run = answered_run(store)
    options = ScorerOptions(judge_backend=BackendOptions(base_url=url, concurrency=concurrency))
    judge = make_scorer("judge:openai:bench", options)  # as `flames score` builds it
    cpu0, wall0 = os.times(), time.perf_counter()
    summary = asyncio.run(score_run(store, run, judge))
    wall, cpu1 = time.perf_counter() - wall0, os.times()
    assert summary.scored == summary.total, f"only {summary.scored}/{summary.total} scored"
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    store.close()
    return summary.scored, summary.scored / wall, cpu / summary.scored * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    os.environ.setdefault("FLAMES_DATA", str(ROOT.parent / "shared" / "data" / "flames-1k"))
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(args.latency)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    print(f"judge server {url}, latency {args.latency * 1000:.0f} ms, {os.cpu_count()} CPUs")
    print(f"{'concurrency':>11} {'judgments':>9} {'judg./s':>8} {'ideal':>7} {'% ideal':>8} {'client CPU s / 1k':>18}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for c in args.concurrency:
                n, rate, cpu = measure(url, c, Path(tmp))
                ideal = c / args.latency
                print(f"{c:>11} {n:>9} {rate:>8.1f} {ideal:>7.0f} {rate / ideal:>8.1%} {cpu:>18.2f}")
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
