"""`flames score` end to end: runs and official-format files, the LLM judge on loopback and the official scorer
on a tiny checkpoint, `--out`, resume after SIGKILL with nothing judged twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scoring_support import ChatServer, answer_for, expected_score, rubric_judge
from typer.testing import CliRunner

from flames.cli import app
from flames.prompts import read_prompt_file
from flames.scorers.base import ScorerError
from flames.store import RunInfo, RunSpec, Store
from flames.taxonomy import info

runner = CliRunner()
FLAMES = str(Path(sys.executable).with_name("flames"))


def flames(*args: str) -> str:
    """Run the CLI in-process; its output with rich's line wrapping undone."""
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def judge_args(server: ChatServer, *extra: str) -> list[str]:
    return ["--scorer", "judge:openai:j", "--judge-base-url", server.base_url, "--no-progress", *extra]


def test_score_a_run_prints_the_report_and_resumes(
    answered_run: tuple[Store, RunInfo], db_url: str, judge_server: ChatServer
) -> None:
    store, run = answered_run
    out = flames("score", "r", "--db", db_url, *judge_args(judge_server))
    assert "12 scored, 0 unscored now" in out and "Harmless rate" in out and "Legality" in out
    (sc,) = store.scorers_for(run)
    for r in store.responses(run):
        assert store.judgments(run, sc)[r.id].score == expected_score(r.text, len(info(r.prompt.dimension).scale) == 3)
    again = flames("score", "r", "--db", db_url, *judge_args(judge_server))
    assert "0 scored, 0 unscored now; 12 of 12 responses were judged before" in again
    assert judge_server.requests == 12


def test_score_an_official_file_writes_predicted(
    prompts_file: Path, tmp_path: Path, db_url: str, judge_server: ChatServer
) -> None:
    results = tmp_path / "model_answers.jsonl"
    rows = [json.loads(line) for line in prompts_file.read_text(encoding="utf-8").splitlines()]
    for i, row in enumerate(rows):
        row |= {"response": answer_for(i), "model": "some-model"}
    results.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    scored = tmp_path / "scored.jsonl"
    out = flames("score", str(results), "--db", db_url, "--out", str(scored), *judge_args(judge_server))
    assert "is run model_answers" in out and str(scored) in out
    written = [json.loads(line) for line in scored.read_text(encoding="utf-8").splitlines()]
    assert [(w["prompt"], w["response"]) for w in written] == [(r["prompt"], r["response"]) for r in rows]
    for w in written:
        assert w["predicted"] == expected_score(w["response"], len(info(w["dimension"]).scale) == 3)
        assert "probs" not in w  # a judge has no class probabilities
    flames("score", str(results), "--db", db_url, *judge_args(judge_server))  # imported once, judged once
    assert judge_server.requests == 12
    assert [r.name for r in Store(db_url).list_runs()] == ["model_answers"]


def test_the_official_scorer_side_by_side_with_the_judge(
    answered_run: tuple[Store, RunInfo], db_url: str, judge_server: ChatServer, tiny_scorer: Path, tmp_path: Path
) -> None:
    store, run = answered_run
    flames("score", "r", "--db", db_url, *judge_args(judge_server))
    out_file = tmp_path / "official.jsonl"
    out = flames("score", "r", "--db", db_url, "--scorer", f"flames:{tiny_scorer}", "--no-progress",
                 "--batch-size", "4", "--out", str(out_file))  # fmt: skip
    assert "12 scored, 0 unscored now" in out
    flames("score", "r", "--db", db_url, "--scorer", f"flames:{tiny_scorer}", "--faithful", "--no-progress")
    judge, improved, faithful = store.scorers_for(run)
    assert judge.name.startswith("judge:") and improved.name != judge.name
    assert improved.config_hash != faithful.config_hash
    for row in (json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()):
        scale = info(row["dimension"]).scale
        assert row["predicted"] in scale and len(row["probs"]) == len(scale)
        assert row["predicted"] == scale[max(range(len(scale)), key=row["probs"].__getitem__)]
        assert sum(row["probs"]) == pytest.approx(1, abs=1e-4)


def test_bad_scorer_specs_and_options_are_refused(
    answered_run: tuple[Store, RunInfo], db_url: str, prompts_file: Path
) -> None:
    result = runner.invoke(app, ["score", "r", "--db", db_url, "--scorer", "gpt4"])
    assert isinstance(result.exception, ScorerError) and "judge:MODEL_SPEC" in str(result.exception)
    result = runner.invoke(app, ["score", "r", "--db", db_url, "--scorer", "judge:nope:x"])
    assert isinstance(result.exception, ScorerError) and "KIND:TARGET" in str(result.exception)
    result = runner.invoke(app, ["score", "r", "--db", db_url, "-s", "flames", "-s", "judge:openai:j", "--out", "x"])
    assert result.exit_code == 2 and "single --scorer" in result.output
    answered_run[0].open_run(RunSpec("empty", "openai:m", "openai", {}), read_prompt_file(prompts_file))
    result = runner.invoke(app, ["score", "empty", "--db", db_url, "--scorer", "judge:openai:j"])
    assert result.exit_code == 2 and "no answers to score yet" in result.output


def test_sigkill_mid_scoring_then_resume_judges_nothing_twice(
    answered_run: tuple[Store, RunInfo], db_url: str
) -> None:
    store, run = answered_run
    with ChatServer(reply=rubric_judge, latency=0.2) as server:
        args = ["score", "r", "--db", db_url, *judge_args(server, "--judge-concurrency", "1")]
        proc = subprocess.Popen([FLAMES, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            scorers = store.scorers_for(run)
            if scorers and len(store.judgments(run, scorers[0])) >= 4:
                break
            time.sleep(0.05)
        proc.kill()
        assert proc.wait() == -9, proc.stderr.read().decode() if proc.stderr else ""
        (sc,) = store.scorers_for(run)
        kept = len(store.judgments(run, sc))
        assert 4 <= kept < 12
        flames(*args)
        answered = server.answered
    assert len(store.judgments(run, sc)) == 12
    assert sum(answered.values()) <= 13  # each item once, plus at most the one in flight at the kill
    assert sum(n > 1 for n in answered.values()) <= 1


def test_judge_requests_failing_in_transit_are_reported_and_asked_again(
    answered_run: tuple[Store, RunInfo], db_url: str
) -> None:
    store, run = answered_run
    down = {"on": True}

    def faults(prompt: str, attempt: int) -> str | None:  # the judge server fails on the harmful answers
        return "500" if down["on"] and "第一步" in prompt else None

    with ChatServer(reply=rubric_judge, faults=faults) as server:
        args = ["score", "r", "--db", db_url, *judge_args(server, "--judge-max-retries", "1")]
        failed = runner.invoke(app, args, catch_exceptions=False)
        assert failed.exit_code == 1, "judge requests left to ask again: exit 1, as `flames generate` does"
        out = " ".join(failed.output.split())
        assert "8 scored, 4 unscored now" in out and "4 judge request(s) failed in transit; rerun" in out
        assert sum(server.attempts.values()) == 12 + 4  # one retry each for the failing four
        down["on"] = False
        again = flames(*args)
    assert "4 scored, 0 unscored now; 8 of 12 responses were judged before" in again
    (sc,) = store.scorers_for(run)
    assert all(j.score is not None for j in store.judgments(run, sc).values())
