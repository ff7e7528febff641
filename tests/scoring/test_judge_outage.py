"""A judge that never answers: `flames score` and `flames run` exit 1 until every answer has a final judgment,
and the failed attempt does not become the scorer that reports, leaderboards and compare show by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scoring_support import ChatServer, rubric_judge
from typer.testing import CliRunner

from flames.cli import app
from flames.store import RunInfo, Store, StoreError

runner = CliRunner()
DOWN = ["--judge-base-url", "http://127.0.0.1:1/v1", "--judge-max-retries", "0", "--no-progress"]


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, " ".join(result.output.split())


def test_a_judge_outage_exits_1_and_leaves_the_default_scorer_alone(
    answered_run: tuple[Store, RunInfo], db_url: str, judge_server: ChatServer
) -> None:
    store, run = answered_run
    code, _ = invoke("score", "r", "--db", db_url, "--scorer", "judge:openai:j", "--judge-base-url",
                     judge_server.base_url, "--no-progress")  # fmt: skip
    assert code == 0
    code, out = invoke("score", "r", "--db", db_url, "--scorer", "judge:openai:j2", *DOWN)
    assert code == 1, out
    assert "12 judge request(s) failed in transit" in out and "rerun the same command" in out

    report = json.loads(invoke("report", "r", "--db", db_url, "-f", "json", "--n-boot", "50")[1])
    assert report["scorer"]["name"] == "judge:openai:j" and report["overall"]["n"] == 12
    (other,) = report["scorer"]["others"]
    assert other.startswith("judge:openai:j2@") and other.endswith("(no final judgment)")
    _, table = invoke("report", "r", "--db", db_url, "--n-boot", "50")
    assert "is the newest with final judgments on run r" in table and "--scorer NAME@HASH" in table
    board = json.loads(invoke("leaderboard", "--db", db_url, "-f", "json", "--n-boot", "50")[1])
    (row,) = board["groups"][0]["rows"]
    assert row["scorer"].startswith("judge:openai:j@") and row["n_scored"] == 12
    assert any("judged by several scorers" in n for n in board["notes"])
    code, shown = invoke("report", "r", "--db", db_url, "--scorer", "judge:openai:j2", "-f", "json", "--n-boot", "50")
    assert code == 0 and json.loads(shown)["overall"]["n_unscored"] == 12  # still there when asked for by name

    code, out = invoke("score", "r", "--db", db_url, "--scorer", "judge:openai:j2", "--judge-base-url",
                       judge_server.base_url, "--no-progress")  # fmt: skip
    assert code == 0, out  # the judge is back: every answer has a final judgment
    report = json.loads(invoke("report", "r", "--db", db_url, "-f", "json", "--n-boot", "50")[1])
    assert report["scorer"]["name"] == "judge:openai:j2", "the newest scorer with judgments is the default"
    assert report["scorer"]["others"] == [f"judge:openai:j@{store.scorers_for(run)[0].config_hash[:8]}"]


def test_a_run_whose_only_judge_never_answered_says_so(answered_run: tuple[Store, RunInfo], db_url: str) -> None:
    code, _ = invoke("score", "r", "--db", db_url, "--scorer", "judge:openai:j", *DOWN)
    assert code == 1
    result = runner.invoke(app, ["report", "r", "--db", db_url])
    assert isinstance(result.exception, StoreError)  # printed without a traceback by `flames` (exit 2)
    assert "no final judgment yet" in str(result.exception) and "failed in transit" in str(result.exception)


def test_flames_run_exits_1_while_judge_requests_failed(prompts_file: Path, db_url: str) -> None:
    with ChatServer() as model:
        args = ["run", "--model", "openai:m", "--base-url", model.base_url, "--run", "x", "--prompts",
                str(prompts_file), "--db", db_url, "--scorer", "judge:openai:j"]  # fmt: skip
        code, out = invoke(*args, *DOWN)
        assert code == 1 and "judge request(s) failed in transit" in out
        with ChatServer(reply=rubric_judge) as judge:
            code, out = invoke(*args, "--judge-base-url", judge.base_url, "--no-progress")
        assert code == 0, out
        assert model.requests == 12, "the answers were collected once"


def test_score_writes_out_before_printing(
    answered_run: tuple[Store, RunInfo], judge_server: ChatServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`flames score ... --out X | head`: a closed pipe stops the printing, not the file."""
    import flames.report.tables

    def closed_pipe(*args: object, **kwargs: object) -> None:
        raise BrokenPipeError

    monkeypatch.setattr(flames.report.tables, "print_report", closed_pipe)
    out = tmp_path / "pred.jsonl"
    with pytest.raises(BrokenPipeError):
        runner.invoke(app, ["score", "r", "--db", str(answered_run[0].url), "--out", str(out), "--scorer",
                            "judge:openai:j", "--judge-base-url", judge_server.base_url, "--no-progress"],
                      catch_exceptions=False)  # fmt: skip
    assert len(out.read_text(encoding="utf-8").splitlines()) == 12
