"""Work leases (`flames.store.holds`): two `flames generate` (or `flames score`) processes on one run, on SQLite
and PostgreSQL, pay for each request once; a killed process's holds are taken over so a rerun completes; a
held slot is never reported as "nothing to do"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from collect.chat_server import ChatServer
from scale.scale_support import write_prompts
from sqlalchemy import insert, update

from flames.models.base import GenerationConfig
from flames.prompts import read_prompt_file
from flames.records import Completion
from flames.store import RunSpec, Store
from flames.store.holds import _machine, slot_key
from flames.store.schema import BatchItemRow, BatchRow, HoldRow, LeaseRow, utcnow

N = 24


def flames(*args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-c", "from flames.cli import main; main()", *args, "--no-progress"]
    env = {**os.environ, "FLAMES_OFFLINE": "1", "COLUMNS": "300"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def generate(server: ChatServer, db: str, prompts: Path) -> subprocess.Popen[str]:
    return flames("generate", "--model", "openai:m", "--run", "r", "--db", db, "--prompts", str(prompts),
                  "--base-url", server.base_url, "--concurrency", "3")  # fmt: skip


def judge(messages: list[dict[str, str]]) -> str:
    return "理由：拒绝了有害请求。\n分数：3"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def foreign_lease(store: Store, run_id: int, slots: list[str], expires_in: float, *, pid: int = 4242,
                  machine: str = "elsewhere/pid:[1]") -> str:  # fmt: skip
    """A lease written as another machine's process (or, with `machine`, this one's) holding `slots`."""
    owner = f"other-{machine}-{pid}-{expires_in}"[:64]
    with store.engine.begin() as conn:
        conn.execute(insert(LeaseRow).values(owner=owner, host="node7", machine=machine, pid=pid,
                                             expires=time.time() + expires_in, created_at=utcnow()))  # fmt: skip
        conn.execute(insert(HoldRow), [{"slot": s, "run_id": run_id, "owner": owner} for s in slots])
    return owner


def test_claims_are_exclusive_renewed_and_taken_over_only_from_the_dead(store_url: str, tmp_path: Path) -> None:
    store = Store(store_url)
    run = store.open_run(RunSpec("r", "openai:m", "openai", {}), read_prompt_file(write_prompts(tmp_path / "p.jsonl")))
    slots = store.pending(run)
    keys = [slot_key(run.id, s.prompt_row_id, s.sample_index) for s in slots]
    with store.lease(ttl_s=1.0, renew_s=0.2) as a, store.lease() as b:
        assert a.claim(run.id, keys[:10]) == set(keys[:10])
        assert b.claim(run.id, keys) == set(keys[10:])  # a's are live: b gets the rest only
        assert store.pending(run) == []
        time.sleep(1.5)  # longer than a's lease, but its heartbeat renews it
        assert b.claim(run.id, keys[:10]) == set()
        [holder] = store.holders(run, slots[:10])
        assert holder.pid == os.getpid() and holder.requests == 10 and "held by process" in holder.describe()
    assert len(store.pending(run)) == len(slots) == 30  # leaving the block released both

    # a slot answered meanwhile is dropped by the claim
    store.save_response(run.id, slots[0], Completion("答"))
    # gone: an expired lease of another machine, a lease of a dead pid on this machine; live: another machine's
    expired = foreign_lease(store, run.id, keys[1:3], expires_in=-1)
    dead = foreign_lease(store, run.id, keys[3:5], expires_in=600, pid=dead_pid(), machine=_machine())
    live = foreign_lease(store, run.id, keys[5:7], expires_in=600)
    assert {h.owner for h in store.holders(run, slots)} == {live}
    with store.lease() as c:
        mine = store.claim_slots(c, run, slots)
        assert [s.prompt_row_id for s in mine] == [s.prompt_row_id for s in slots[1:5] + slots[7:]]
    with store.engine.connect() as conn:
        owners = {o for (o,) in conn.execute(LeaseRow.__table__.select().with_only_columns(LeaseRow.owner))}
    assert owners == {live} and expired not in owners and dead not in owners


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_generate_processes_on_one_run_pay_for_each_slot_once(db: str, tmp_path: Path,
                                                                   request: pytest.FixtureRequest) -> None:  # fmt: skip
    url = f"sqlite:///{tmp_path / 'f.db'}" if db == "sqlite" else str(request.getfixturevalue("pg_url"))
    prompts = write_prompts(tmp_path / "prompts.jsonl", N)
    Store(url).close()  # the schema exists before both start, as it would for a second terminal
    with ChatServer(latency=0.3) as server:
        procs = [generate(server, url, prompts) for _ in range(2)]
        outputs = [" ".join(p.communicate(timeout=180)[0].split()) for p in procs]
    assert server.requests == N and set(server.answered.values()) == {1}, outputs
    assert all(p.returncode in (0, 1) for p in procs), outputs
    # one that ended while the other still worked says so, and does not call it done
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0 or ("held elsewhere" in out and "held by process" in out), out
    store = Store(url)
    assert store.counts(store.get_run("r")).ok == N

    # judging: two `flames score` processes, each judge request paid once
    with ChatServer(reply=judge, latency=0.3) as judge_server:
        procs = [flames("score", "r", "--db", url, "--scorer", "judge:openai:j", "--judge-base-url",
                        judge_server.base_url, "--judge-concurrency", "3") for _ in range(2)]  # fmt: skip
        outputs = [" ".join(p.communicate(timeout=180)[0].split()) for p in procs]
    assert judge_server.requests == N, outputs
    assert all(p.returncode in (0, 1) for p in procs), outputs
    run = store.get_run("r")
    assert len(store.judgments(run, store.resolve_scorer(run, "judge:openai:j"))) == N


def test_a_killed_process_holds_nothing_and_a_rerun_completes_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    prompts = write_prompts(tmp_path / "prompts.jsonl", N)
    with ChatServer(latency=0.3) as server:
        proc = generate(server, url, prompts)
        deadline = time.monotonic() + 60
        while server.requests < 6:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        store = Store(url)
        run = store.get_run("r")
        with store.engine.connect() as conn:  # its holds are still in the store, but not live: its pid is gone
            assert conn.execute(HoldRow.__table__.select()).all()
        assert store.holders(run, store.pending(run, held=True)) == []
        rerun = generate(server, url, prompts)  # so the rerun takes them over at once
        out = rerun.communicate(timeout=120)[0]
    assert rerun.returncode == 0, out
    assert store.counts(store.get_run("r")).ok == N
    assert server.requests <= N + 3  # at most the requests in flight at the kill were asked twice


def test_slots_held_by_a_live_process_are_reported_and_the_command_fails(tmp_path: Path) -> None:
    """Never "nothing to do" while slots are not final: say who holds them, exit non-zero."""
    url = f"sqlite:///{tmp_path / 'f.db'}"
    prompts = write_prompts(tmp_path / "prompts.jsonl", 4)
    store = Store(url)
    run = store.open_run(RunSpec("r", "openai:m", "openai", GenerationConfig().as_dict()), read_prompt_file(prompts))
    slots = store.pending(run)
    owner = foreign_lease(store, run.id, [slot_key(run.id, s.prompt_row_id, s.sample_index) for s in slots],
                          expires_in=600)  # fmt: skip
    with ChatServer() as server:
        proc = generate(server, url, prompts)
        out = " ".join(proc.communicate(timeout=120)[0].split())
        assert proc.returncode == 1 and server.requests == 0, out
        assert "nothing to do" not in out and "4 held by process 4242 on node7" in out, out
        # once the lease has expired (the process died on node7), the rerun completes the run
        with store.engine.begin() as conn:
            conn.execute(update(LeaseRow).where(LeaseRow.owner == owner).values(expires=time.time() - 1))
        proc = generate(server, url, prompts)
        out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0 and server.requests == 4, out


def test_revision_0008_turns_open_batches_into_leases_on_their_slots(store_url: str, tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from flames.store.db import MIGRATIONS, migrate

    store = Store(store_url)
    prompts = read_prompt_file(write_prompts(tmp_path / "p.jsonl", 6))
    run = store.open_run(RunSpec("r", "openai:m", "openai", {}), prompts)
    slots = store.pending(run)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007_keep_labels")  # a store written before leases, with two batches
        for n, (held, collected) in enumerate(((slots[:2], None), (slots[2:4], utcnow()))):
            batch_id = conn.execute(insert(BatchRow).values(
                run_id=run.id, kind="generate", provider="openai", base_url="http://x/v1", endpoint="/v1/c",
                api_key_env="K", model="m", local_key=f"k{n}", status="validating", n_requests=2, n_bytes=1,
                request_counts={}, result={}, meta={}, created_at=utcnow(), updated_at=utcnow(),
                collected_at=collected).returning(BatchRow.id)).scalar_one()  # fmt: skip
            conn.execute(insert(BatchItemRow), [{"batch_id": batch_id, "custom_id": f"c{s.prompt_row_id}",
                                                 "prompt_row_id": s.prompt_row_id, "sample_index": 0} for s in held])
    migrate(store.engine)
    [holder] = store.holders(run, slots)  # the open batch holds its two slots; the collected one nothing
    assert holder.batch == "(local 1)" and holder.requests == 2
    assert [s.prompt_row_id for s in store.pending(run)] == [s.prompt_row_id for s in slots[2:]]
    store.close_batch(1, {"abandoned": "test"})
    assert len(store.pending(run)) == 6
