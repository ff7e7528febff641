"""Killing `flames generate` mid-run (SIGKILL, Ctrl-C) loses at most what was in flight; a rerun finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from collect.chat_server import ChatServer
from collect.conftest import MakePrompts

from flames.store import Store

N, CONCURRENCY = 40, 4


def start_cli(server: ChatServer, db_url: str, prompts: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-c", "from flames.cli import main; main()", "generate", "--model", "openai:m",
           "--run", "r", "--db", db_url, "--prompts", prompts, "--base-url", server.base_url,
           "--concurrency", str(CONCURRENCY), "--no-progress"]  # fmt: skip
    env = {**os.environ, "FLAMES_OFFLINE": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def wait_for_answers(server: ChatServer, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while sum(server.answered.values()) < n:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the CLI made no progress"
        time.sleep(0.01)


def interrupt_then_resume(
    make_prompts: MakePrompts, db_url: str, *signals: signal.Signals, latency: float = 0.1
) -> tuple[int, str, int, int]:
    """Interrupt a run, resume it; return (exit code, output, answers stored at the stop, answers lost)."""
    ps = make_prompts(N)
    with ChatServer(latency=latency) as server:
        proc = start_cli(server, db_url, ps.source)
        wait_for_answers(server, 12, proc)
        for sig in signals:
            proc.send_signal(sig)
            time.sleep(0.05)
        output = proc.communicate(timeout=30)[0]
        time.sleep(latency + 0.2)  # requests in flight at the kill still finish on the server side
        answered_before = sum(server.answered.values())
        store = Store(db_url)
        kept = {r.prompt.prompt for r in store.responses(store.get_run("r"))}
        stored_before = len(kept)
        # what the server answered and the store lacks was in flight at the kill
        assert 0 <= answered_before - stored_before <= CONCURRENCY
        resume = start_cli(server, db_url, ps.source)
        assert resume.wait(timeout=60) == 0, resume.communicate()[0]
        rows = store.responses(store.get_run("r"))
        assert len(rows) == N and len({r.prompt.id for r in rows}) == N
        repeats = sum(server.answered.values()) - N
        assert repeats == answered_before - stored_before
        assert all(server.answered[p] == 1 for p in kept)  # stored once = never asked again
    return proc.returncode, output, stored_before, repeats


def test_sigkill_loses_only_what_was_in_flight(make_prompts: MakePrompts, db_url: str) -> None:
    code, _, stored, _ = interrupt_then_resume(make_prompts, db_url, signal.SIGKILL)
    assert code == -signal.SIGKILL and 12 - CONCURRENCY <= stored < N


def test_ctrl_c_finishes_what_is_in_flight_and_stores_it(make_prompts: MakePrompts, db_url: str) -> None:
    code, output, stored, lost = interrupt_then_resume(make_prompts, db_url, signal.SIGINT)
    assert code == 130 and "rerun the same command to resume" in output and "Traceback" not in output
    assert "finishing the requests in flight" in output
    assert lost == 0 and stored < N  # every request that was sent was answered and stored: none paid twice


def test_second_ctrl_c_abandons_the_requests_in_flight(make_prompts: MakePrompts, db_url: str) -> None:
    code, output, stored, lost = interrupt_then_resume(make_prompts, db_url, signal.SIGINT, signal.SIGINT, latency=0.5)
    assert code == 130 and "Traceback" not in output and stored < N
    assert 0 < lost <= CONCURRENCY  # abandoned mid-flight: answered by the server, never stored
