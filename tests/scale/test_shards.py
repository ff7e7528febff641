"""`--shard I/N`: two `flames generate` processes on one store (SQLite in WAL mode, and PostgreSQL) answer
every slot exactly once; a killed shard, started again, resumes its own slice."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from collect.chat_server import ChatServer
from scale.scale_support import write_prompts

from flames.shard import Shard, ShardError, parse_shard, shard_of
from flames.store import Store

N = 30


def start_shard(server: ChatServer, db: str, prompts: Path, shard: str, run: str = "r") -> subprocess.Popen[str]:
    cmd = [sys.executable, "-c", "from flames.cli import main; main()", "generate", "--model", "openai:m",
           "--run", run, "--db", db, "--prompts", str(prompts), "--base-url", server.base_url, "--concurrency", "4",
           "--no-progress", "--shard", shard, "--header", f"X-Shard: {shard}"]  # fmt: skip
    env = {**os.environ, "FLAMES_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def prompt_id(body: dict[str, object]) -> str:
    messages = body["messages"]
    assert isinstance(messages, list)
    return "q" + str(messages[-1]["content"]).removeprefix("问题").split("：")[0]


def test_two_shard_processes_share_one_store(store_url: str, tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    with ChatServer(latency=0.05) as server:
        procs = [start_shard(server, store_url, prompts, f"{i}/2") for i in range(2)]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    # each process asked only for its own slice, and every slot was answered once
    for body, headers in zip(server.bodies, server.headers, strict=True):
        index, _ = headers["X-Shard"].split("/")
        assert shard_of(prompt_id(body), 2) == int(index)
    assert len(server.answered) == N and set(server.answered.values()) == {1}
    store = Store(store_url)
    run = store.get_run("r")
    assert len({r.prompt.id for r in store.responses(run)}) == N
    assert run.status == "complete"  # decided by the store, whichever shard finished last
    done = f"{N}/{N} final outcomes ({N} answered, 0 blocked, 0 no answer; complete)"
    assert any(done in " ".join(out.split()) for out in outputs), outputs


def test_a_killed_shard_started_again_resumes_its_slice(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    db = f"sqlite:///{tmp_path / 'flames.db'}"
    store = Store(db)
    with ChatServer(latency=0.3) as server:
        victim = start_shard(server, db, prompts, "0/2")
        deadline = time.monotonic() + 60
        while not store.has_run("r") or len(store.responses(store.get_run("r"))) < 4 or not server.in_flight:
            assert victim.poll() is None and time.monotonic() < deadline, victim.communicate()[0]
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        stored_at_kill = {r.prompt.prompt for r in store.responses(store.get_run("r"))}
        server.latency = 0.02
        other = start_shard(server, db, prompts, "1/2")
        assert other.wait(timeout=120) == 0, other.communicate()[0]
        run = store.get_run("r")
        assert run.status != "complete" and store.pending(run, shard=Shard(1, 2)) == []
        requeued = start_shard(server, db, prompts, "0/2")
        assert requeued.wait(timeout=120) == 0, requeued.communicate()[0]
        time.sleep(0.4)  # requests cut off by the kill finish on the server side
    rows = store.responses(store.get_run("r"))
    assert len(rows) == N and len({r.prompt.id for r in rows}) == N
    assert store.get_run("r").status == "complete"
    # no stored answer was asked for again; the kill cost only what the process had in flight or uncommitted
    asked_twice = {p for p, k in server.answered.items() if k > 1}
    assert not asked_twice & stored_at_kill and set(server.answered.values()) <= {1, 2}
    assert sum(server.answered.values()) - N == len(asked_twice) <= 4


def test_shard_values() -> None:
    assert parse_shard("1/4") == Shard(1, 4)
    assert parse_shard("auto/4", {"JOB_COMPLETION_INDEX": "3"}) == Shard(3, 4)
    slurm = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_COUNT": "3"}
    assert parse_shard("auto/auto", slurm) == Shard(1, 3)
    for bad, message in [("4/4", "0 <= I < N"), ("1", "use I/N"), ("a/2", "not a whole number"),
                         ("auto/2", "neither"), ("0/auto", "SLURM_ARRAY_TASK_COUNT")]:  # fmt: skip
        with pytest.raises(ShardError, match=message):
            parse_shard(bad, {})
    # slices are disjoint, cover the set, do not depend on order, and are roughly even
    ids = [f"id-{i}" for i in range(4000)]
    sizes = [sum(Shard(i, 4).contains(x) for x in ids) for i in range(4)]
    assert sum(sizes) == 4000 and min(sizes) > 900
    assert [shard_of(x, 4) for x in reversed(ids)] == [shard_of(x, 4) for x in ids][::-1]
    assert shard_of("FLAMES-0001", 7) == int.from_bytes(hashlib.sha256(b"FLAMES-0001").digest()[:8], "big") % 7
