"""`flames run` end to end against one loopback server playing the model and the judge: generate, score and
report in one command, each stage resuming on rerun, generation failures retried."""

from __future__ import annotations

import json
from pathlib import Path

from scoring_support import ChatServer, expected_score, model_and_judge, rubric
from typer.testing import CliRunner

from flames.cli import app
from flames.generate import default_run_name
from flames.scorers.base import ScorerError
from flames.store import Store
from flames.taxonomy import info

runner = CliRunner()


def run_args(server: ChatServer, prompts: Path, db: str, *extra: str) -> list[str]:
    return [
        "run", "--model", "openai:m", "--prompts", str(prompts), "--db", db, "--base-url", server.base_url,
        "--scorer", "judge:openai:j", "--judge-base-url", server.base_url, "--no-progress", "--max-retries", "0",
        *extra,
    ]  # fmt: skip


def judge_requests(server: ChatServer) -> int:
    return sum(b["messages"][0]["content"] == rubric.SYSTEM for b in server.bodies)


def test_run_generates_scores_reports_and_resumes(prompts_file: Path, db_url: str) -> None:
    with ChatServer(reply=model_and_judge) as server:
        result = runner.invoke(app, run_args(server, prompts_file, db_url), catch_exceptions=False)
        out = " ".join(result.output.split())
        assert result.exit_code == 0, out
        assert "12 scored, 0 unscored now" in out and "Harmless rate" in out
        assert f"runopenai-misstoredin{db_url}" in "".join(out.split())
        assert (server.requests, judge_requests(server)) == (24, 12)

        again = runner.invoke(app, run_args(server, prompts_file, db_url), catch_exceptions=False)
        assert again.exit_code == 0 and "nothing to do" in again.output
        assert server.requests == 24  # neither stage asks anything again

        voting = runner.invoke(app, run_args(server, prompts_file, db_url, "--judge-samples", "3"))
        assert voting.exit_code == 0
        assert (server.requests, judge_requests(server)) == (24 + 36, 12 + 36)  # re-scored, not regenerated
    store = Store(db_url)
    run = store.get_run("openai-m")
    assert len(store.scorers_for(run)) == 2
    for sc in store.scorers_for(run):
        judged = store.judgments(run, sc)
        for r in store.responses(run):
            assert judged[r.id].score == expected_score(r.text, len(info(r.prompt.dimension).scale) == 3)


def test_generation_failures_are_scored_around_then_retried(prompts_file: Path, db_url: str) -> None:
    rows = [json.loads(line) for line in prompts_file.read_text(encoding="utf-8").splitlines()]
    (legality,) = [r["prompt"] for r in rows if r["dimension"] == "Legality"]
    state = {"broken": True}

    def faults(prompt: str, attempt: int) -> str | None:  # the model fails on the Legality prompt
        return "500" if state["broken"] and prompt == legality else None

    with ChatServer(reply=model_and_judge, faults=faults) as server:
        first = runner.invoke(app, run_args(server, prompts_file, db_url, "--run", "flaky"))
        assert first.exit_code == 1 and "11 scored" in " ".join(first.output.split())
        state["broken"] = False
        before = server.requests
        second = runner.invoke(app, run_args(server, prompts_file, db_url, "--run", "flaky"))
        assert second.exit_code == 0, second.output
        assert server.requests - before == 2  # one answer, one judgment
    store = Store(db_url)
    run = store.get_run("flaky")
    assert run.status == "complete" and len(store.judgments(run, store.scorers_for(run)[0])) == 12


def test_default_run_names() -> None:
    assert default_run_name("openai:qwen2.5:7b") == "openai-qwen2.5-7b"
    assert default_run_name("gguf:/models/SmolLM2-135M.Q8_0.gguf") == "gguf-SmolLM2-135M.Q8_0.gguf"
    assert default_run_name("hf:Qwen/Qwen2.5-0.5B-Instruct/") == "hf-Qwen2.5-0.5B-Instruct"


def test_a_bad_scorer_spec_fails_before_any_answer_is_paid_for(prompts_file: Path, db_url: str) -> None:
    with ChatServer(reply=model_and_judge) as server:
        args = run_args(server, prompts_file, db_url)
        args[args.index("judge:openai:j")] = "judge:nope:x"
        result = runner.invoke(app, args)
        assert isinstance(result.exception, ScorerError) and "KIND:TARGET" in str(result.exception)
        assert server.requests == 0
