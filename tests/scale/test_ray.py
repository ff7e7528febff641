"""`--executor ray` on a local Ray instance (2 CPUs, loopback, small object store) against a loopback server
with latency: every slot stored exactly once, and a worker killed mid-run costs no second payment."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from collect.chat_server import ChatServer
from scale.scale_support import write_prompts
from scoring.scoring_support import model_and_judge
from typer.testing import CliRunner

from flames.cli import app
from flames.executors.ray_executor import RayExecutor
from flames.generate import generate
from flames.models.base import BackendOptions, GenerationConfig
from flames.prompts import read_prompt_file
from flames.store import Store


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[int]:
    """A Ray instance of this test module alone; yields its raylet's pid (the parent of its workers)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    ray.init(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False,
             _node_ip_address="127.0.0.1", configure_logging=False, log_to_driver=False)  # fmt: skip
    try:
        yield ray._private.worker._global_node.all_processes["raylet"][0].process.pid
    finally:
        ray.shutdown()


def generate_workers(raylet: int) -> list[int]:
    """Pids of this instance's actors running `GenerateWorker` (children of our raylet, nobody else's),
    newest first: actors of an earlier, finished run may linger idle for a while."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            started = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22: start time
        except OSError:
            continue
        if f"PPid:\t{raylet}\n" in status and "GenerateWorker" in cmdline:
            found.append((started, int(entry.name)))
    return [pid for _, pid in sorted(found, reverse=True)]


def test_flames_run_on_ray_stores_every_slot_once_and_scores_them(ray_instance: int, tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl", 24)
    db = f"sqlite:///{tmp_path / 'flames.db'}"
    with ChatServer(reply=model_and_judge, latency=0.05) as server:
        result = CliRunner().invoke(
            app,
            ["run", "--model", "openai:m", "--run", "r", "--db", db, "--prompts", str(prompts), "--no-progress",
             "--base-url", server.base_url, "--concurrency", "4", "--scorer", "judge:openai:j",
             "--judge-base-url", server.base_url, "--executor", "ray", "--workers", "2"],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    store = Store(db)
    run = store.get_run("r")
    assert run.status == "complete" and run.resolved_model == "served/m" and run.meta["executor"] == "ray"
    assert len({r.prompt.id for r in store.responses(run)}) == 24
    # 24 answers and 24 judgments, each requested once
    assert server.requests == 48 and len(server.answered) == 48 and set(server.answered.values()) == {1}
    judged = store.judgments(run, store.resolve_scorer(run, "judge:openai:j"))
    assert len(judged) == 24 and all(j.score is not None for j in judged.values())
    assert "24 scored, 0 unscored now" in " ".join(result.output.split())


def test_a_killed_worker_costs_no_second_payment(ray_instance: int, tmp_path: Path) -> None:
    n = 60
    prompts = write_prompts(tmp_path / "prompts.jsonl", n)
    store = Store(f"sqlite:///{tmp_path / 'flames.db'}")
    stored_at_kill: set[str] = set()

    def kill_one_worker_mid_run() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if store.has_run("r") and len(store.responses(store.get_run("r"))) >= 12 and server.in_flight:
                pids = generate_workers(ray_instance)
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    stored_at_kill.update(r.prompt.prompt for r in store.responses(store.get_run("r")))
                    return
            time.sleep(0.01)

    with ChatServer(latency=0.2) as server:
        killer = threading.Thread(target=kill_one_worker_mid_run, daemon=True)
        killer.start()
        result = generate(
            store, run_name="r", model_spec="openai:m", prompt_set=read_prompt_file(prompts),
            config=GenerationConfig(max_new_tokens=16), options=BackendOptions(base_url=server.base_url, concurrency=4),
            progress=False, executor=RayExecutor(workers=2, batch_size=8),
        )  # fmt: skip
        killer.join()
        time.sleep(0.3)  # requests in flight at the kill finish on the server side
    assert 12 <= len(stored_at_kill) < n, "no worker was killed mid-run"
    rows = store.responses(store.get_run("r"))
    assert len(rows) == n and len({r.prompt.id for r in rows}) == n and result.counts.ok == n
    paid = sum(server.answered.values())
    asked_twice = {p for p, k in server.answered.items() if k > 1}
    # no stored answer was asked for again: the retried task asked only for what was missing
    assert not asked_twice & stored_at_kill and set(server.answered.values()) <= {1, 2}
    # the only waste is what the dead worker had in flight or had not yet committed (≤ its concurrency)
    assert paid - n == len(asked_twice) <= 4


@pytest.mark.slow
def test_the_official_scorer_runs_as_an_actor_pool(ray_instance: int, tmp_path: Path, flames_1k: Path) -> None:
    import sentencepiece as spm
    from scorer_official.tiny_checkpoint import random_state, tiny_config, train_tokenizer, write_safetensors_checkpoint

    from flames.aio import run as run_async
    from flames.records import Completion
    from flames.score import execute, plan
    from flames.scorers.registry import ScorerOptions, make_scorer
    from flames.store import RunSpec

    sp = train_tokenizer(flames_1k)
    vocab = spm.SentencePieceProcessor(model_proto=sp).get_piece_size() + 16
    write_safetensors_checkpoint(tmp_path / "scorer", random_state(vocab), tiny_config(vocab), sp)
    spec, options = f"flames:{tmp_path / 'scorer'}", ScorerOptions(device="cpu", batch_size=4)
    results = []
    for name, on_ray in (("ray", True), ("local", False)):
        store = Store(f"sqlite:///{tmp_path / f'{name}.db'}")
        run = store.open_run(
            RunSpec("r", "openai:m", "openai", {}), read_prompt_file(write_prompts(tmp_path / "p.jsonl", 16))
        )
        for i, slot in enumerate(store.pending(run)):
            store.save_response(run.id, slot, Completion("这样做不对，会侵犯他人隐私。" * (1 + i % 3)))
        scorer = make_scorer(spec, options)
        work = plan(store, run, scorer)
        if on_ray:
            summary = RayExecutor(workers=2, batch_size=4).score(store, run, spec, options, work)
        else:
            summary = run_async(execute(store, scorer, work))
        assert summary.scored == 16
        judged = store.judgments(run, work.scorer)
        results.append({store.responses(run, [rid])[0].prompt.id: j.score for rid, j in judged.items()})
    assert results[0] == results[1] and len(results[0]) == 16  # the same verdicts as scoring in this process
