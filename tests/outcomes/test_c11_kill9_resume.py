"""C11 (already right; kept right): `kill -9` in the middle of generation and of judge scoring, then the same
commands again: only the requests in flight at the kill are asked twice, and nothing is stored twice."""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from outcomes.conftest import FakeProvider, Serve, case

C11 = case("C11")
CONCURRENCY = 4


def start(*args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-c", "from flames.cli import main; main()", *args, "--no-progress"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))


def kill_after(proc: subprocess.Popen[str], server: FakeProvider, n: int) -> None:
    """SIGKILL the command once the server has received `n` requests."""
    deadline = time.monotonic() + 60
    while len(server.requests()) < n:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the command made no progress"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def faster(rules: Path, tmp_path: Path) -> Path:
    """The case's rules (same reply bodies) with each reply after 0.15 s instead of 0.5 s."""
    out = tmp_path / rules.name
    out.write_text(json.dumps([r | {"delay": 0.15} for r in json.loads(rules.read_text(encoding="utf-8"))]))
    return out


def test_c11_kill9_then_rerun_asks_only_what_was_in_flight(serve: Serve, tmp_path: Path) -> None:
    model = serve(faster(C11 / "gen_rules.json", tmp_path))
    judge = serve(faster(C11 / "judge_rules.json", tmp_path))
    dbfile = tmp_path / "x.db"
    db = f"sqlite:///{dbfile}"
    n = sum(1 for _ in (C11 / "prompts.jsonl").open(encoding="utf-8"))
    gen = ["generate", "--model", "openai:m", "--base-url", model.base_url, "--run", "c11", "--prompts",
           str(C11 / "prompts.jsonl"), "--db", db, "--concurrency", str(CONCURRENCY)]  # fmt: skip
    kill_after(start(*gen), model, 12)
    with sqlite3.connect(dbfile) as conn:
        stored_before = {p for (p,) in conn.execute("select prompt_row_id from responses where status = 'ok'")}
    resumed = start(*gen)
    assert resumed.wait(60) == 0, resumed.communicate()[0]
    with sqlite3.connect(dbfile) as conn:
        rows, distinct, ok = conn.execute(
            "select count(*), count(distinct prompt_row_id), sum(status = 'ok') from responses"
        ).fetchone()
    assert rows == distinct == ok == n
    asked = collections.Counter(r["full"] for r in model.requests())
    twice = sum(v > 1 for v in asked.values())
    assert len(asked) == n and max(asked.values()) <= 2
    assert twice == len(model.requests()) - n <= CONCURRENCY  # only the requests in flight at the kill
    assert len(stored_before) >= 12 - CONCURRENCY

    score = ["score", "c11", "--scorer", "judge:openai:j", "--judge-base-url", judge.base_url,
             "--judge-concurrency", str(CONCURRENCY), "--db", db]  # fmt: skip
    kill_after(start(*score), judge, 12)
    resumed = start(*score)
    assert resumed.wait(60) == 0, resumed.communicate()[0]
    with sqlite3.connect(dbfile) as conn:
        judgments, judged = conn.execute("select count(*), count(distinct response_id) from judgments").fetchone()
    assert judgments == judged == n
    assert n <= len(judge.requests()) <= n + CONCURRENCY
