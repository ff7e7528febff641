"""Scale-out plumbing on one machine: Ray workers against the ideal, and "API calls paid vs answers stored"
when things die (a Ray worker killed mid-run, a `--shard` process killed and requeued) or a batch comes back
half failed.

1. Throughput: `flames generate --executor ray` with 1 and 2 actors, each keeping `--concurrency` requests in
   flight, against a loopback chat server that answers every request after `--latency` seconds; printed
   against the ideal workers × in-flight ÷ latency, end to end (with actor start-up) and steady (first to
   last stored answer).
2. Crash-injected runs: the server counts the answers it produced (what a provider bills, whether or not the
   client lived to read them), the store counts answers; "stored answers paid again" counts slots asked for
   after their answer was in the store at the kill. Ray: one actor killed once a third of the slots are
   stored. Shards: two `flames generate --shard I/2` processes, shard 0
   killed mid-run and started again. Batch: a loopback batch provider returns the first batch half failed,
   `flames batch collect`, `--batch` again for the failed half, collect.

On a CPU machine this shows plumbing and exactly-once payment, not compute scaling: the "model" is a timer.
Usage: `python benchmarks/scale_out.py [--prompts 480] [--latency 0.2] [--concurrency 8]`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from flames.executors.ray_executor import RayExecutor
from flames.generate import generate
from flames.models.base import BackendOptions, GenerationConfig
from flames.prompts import read_prompt_file
from flames.store import Store
from flames.store.schema import ResponseRow
from flames.taxonomy import DIMENSIONS, info

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "collect"), str(ROOT / "tests" / "batch")]
from batch_server import BatchServer  # noqa: E402
from chat_server import ChatServer  # noqa: E402


def write_prompts(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            dim = DIMENSIONS[i % len(DIMENSIONS)]
            row = {"id": f"b{i}", "dimension": dim.value, "subcomponent": info(dim).subcomponents[0],
                   "prompt": f"第{i}题：把同事的住址发到群里合适吗？"}  # fmt: skip
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def stored(store: Store, run: str) -> int:
    return len(store.responses(store.get_run(run))) if store.has_run(run) else 0


def steady_rate(store: Store, run: str) -> float:
    """Answers per second between the first and the last stored answer (actor start-up excluded)."""
    with store.session() as s:
        first, last, n = s.execute(
            select(func.min(ResponseRow.created_at), func.max(ResponseRow.created_at), func.count()).where(
                ResponseRow.run_id == store.get_run(run).id
            )
        ).one()
    return (n - 1) / max((last - first).total_seconds(), 1e-9)


def ray_generate(store: Store, prompts: Path, url: str, concurrency: int, workers: int, run: str) -> float:
    t0 = time.perf_counter()
    generate(
        store, run_name=run, model_spec="openai:m", prompt_set=read_prompt_file(prompts),
        config=GenerationConfig(max_new_tokens=64), options=BackendOptions(base_url=url, concurrency=concurrency),
        progress=False, executor=RayExecutor(workers=workers, batch_size=4 * concurrency),
    )  # fmt: skip
    return time.perf_counter() - t0


def raylet_children(name: str) -> list[int]:
    """Pids of our Ray instance's actors whose title holds `name`, newest first (actors of a finished
    dataset may linger idle for a while)."""
    import ray

    raylet = ray._private.worker._global_node.all_processes["raylet"][0].process.pid
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status, cmd = (entry / "status").read_text(), (entry / "cmdline").read_bytes()
                started = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22: start time
            except OSError:
                continue
            if f"PPid:\t{raylet}\n" in status and name.encode() in cmd:
                found.append((started, int(entry.name)))
    return [pid for _, pid in sorted(found, reverse=True)]


def paid_row(label: str, server: ChatServer, n_stored: int, slots: int, stored_at_kill: set[str]) -> tuple[str, ...]:
    paid = sum(server.answered.values())
    again = sum(1 for prompt, k in server.answered.items() if k > 1 and prompt in stored_at_kill)
    return (label, str(slots), str(server.requests), str(paid), str(n_stored), str(paid - n_stored), str(again))


def stored_prompts(store: Store, run: str) -> set[str]:
    return {r.prompt.prompt for r in store.responses(store.get_run(run))}


def throughput(args: argparse.Namespace, work: Path) -> None:
    prompts = write_prompts(work / "throughput.jsonl", args.prompts)
    print(f"\n1. Ray executor throughput: {args.prompts} prompts, latency {args.latency * 1000:.0f} ms,"
          f" {args.concurrency} in flight per worker")  # fmt: skip
    print("| workers | ideal req/s | end to end req/s | steady req/s | steady / ideal |")
    print("|---|---|---|---|---|")
    for workers in (1, 2):
        store = Store(f"sqlite:///{work / f'tp{workers}.db'}")
        with ChatServer(latency=args.latency) as server:
            elapsed = ray_generate(store, prompts, server.base_url, args.concurrency, workers, "tp")
        ideal = workers * args.concurrency / args.latency
        steady = steady_rate(store, "tp")
        assert stored(store, "tp") == args.prompts and set(server.answered.values()) == {1}
        print(f"| {workers} | {ideal:.0f} | {args.prompts / elapsed:.1f} | {steady:.1f} | {steady / ideal:.0%} |")


def ray_crash(args: argparse.Namespace, work: Path) -> tuple[str, ...]:
    n = args.crash_prompts
    prompts = write_prompts(work / "crash.jsonl", n)
    store = Store(f"sqlite:///{work / 'crash.db'}")

    at_kill: set[str] = set()

    def killer() -> None:
        while stored(store, "crash") < n // 3 or not server.in_flight:
            time.sleep(0.01)
        for pid in raylet_children("GenerateWorker")[:1]:
            os.kill(pid, signal.SIGKILL)
        at_kill.update(stored_prompts(store, "crash"))

    with ChatServer(latency=args.latency) as server:
        threading.Thread(target=killer, daemon=True).start()
        ray_generate(store, prompts, server.base_url, args.concurrency, 2, "crash")
        time.sleep(args.latency + 0.3)
    return paid_row("Ray, 2 workers, one killed", server, stored(store, "crash"), n, at_kill)


def shard_crash(args: argparse.Namespace, work: Path) -> tuple[str, ...]:
    n = args.crash_prompts
    prompts = write_prompts(work / "shards.jsonl", n)
    db = f"sqlite:///{work / 'shards.db'}"
    store = Store(db)

    def shard(server: ChatServer, index: int) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-c", "from flames.cli import main; main()", "generate", "--model", "openai:m",
               "--run", "shards", "--db", db, "--prompts", str(prompts), "--base-url", server.base_url,
               "--concurrency", str(args.concurrency), "--no-progress", "--shard", f"{index}/2"]  # fmt: skip
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    with ChatServer(latency=args.latency) as server:
        first, second = shard(server, 0), shard(server, 1)
        while stored(store, "shards") < n // 4 or not server.in_flight:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        at_kill = stored_prompts(store, "shards")
        second.wait()
        assert shard(server, 0).wait() == 0  # the requeued shard
        time.sleep(args.latency + 0.3)
    return paid_row("2 --shard processes, shard 0 killed and requeued", server, stored(store, "shards"), n, at_kill)


def batch_run(args: argparse.Namespace, work: Path) -> tuple[str, ...]:
    from typer.testing import CliRunner

    from flames.cli import app

    n = args.crash_prompts
    prompts = write_prompts(work / "batch.jsonl", n)
    db = f"sqlite:///{work / 'batch.db'}"
    os.environ["OPENAI_API_KEY"] = "sk-batch"
    runner = CliRunner()
    with BatchServer(fates=["half", "complete"]) as server:
        submit = ["generate", "--model", "openai:m", "--run", "batch", "--db", db, "--prompts", str(prompts),
                  "--base-url", server.base_url, "--batch"]  # fmt: skip
        for command in (submit, ["batch", "collect", "batch", "--db", db]) * 2:
            result = runner.invoke(app, command)
            assert result.exit_code == 0, result.output
    billed = sum(server.billed.values())
    twice = sum(1 for v in server.billed.values() if v > 1)
    lines = sum(len(server.input_lines(b)) for b in server.batches)
    n_stored = stored(Store(db), "batch")
    label = "batch API, first batch half failed, resubmitted"
    return (label, str(n), str(lines), str(billed), str(n_stored), str(billed - n_stored), str(twice))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=480)
    parser.add_argument("--crash-prompts", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    ray.init(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False,
             _node_ip_address="127.0.0.1", configure_logging=False, log_to_driver=False)  # fmt: skip
    print(f"scale_out.py, {datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            throughput(args, work)
            rows = [ray_crash(args, work), shard_crash(args, work), batch_run(args, work)]
    finally:
        ray.shutdown()
    print("\n2. API calls paid vs answers stored")
    print("| run | slots | requests sent | API calls paid | answers stored | paid, not stored (lost with the killed"
          " process) | stored answers paid again |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
