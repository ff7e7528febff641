"""Case C09's last step: `flames score` on OpenCompass's predictions file imports it as a run and scores it."""

from __future__ import annotations

from pathlib import Path

from scoring_support import ChatServer
from typer.testing import CliRunner

from flames.cli import app
from flames.store import Store

C09 = Path(__file__).resolve().parents[2].parent / "shared" / "cases" / "C09-opencompass-json-files"


def test_score_an_opencompass_predictions_file(tmp_path: Path, judge_server: ChatServer) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    predictions = C09 / "predictions" / "qwen2.5-7b-instruct" / "fairness.json"
    args = ["score", str(predictions), "--scorer", "judge:openai:j", "--judge-base-url", judge_server.base_url,
            "--no-progress", "--db", db]  # fmt: skip
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "is run qwen2.5-7b-instruct" in out and "5 scored, 0 unscored now" in out  # named after the model
    store = Store(db)
    run = store.get_run("qwen2.5-7b-instruct")
    (scorer,) = store.scorers_for(run)
    # the rubric judge gives 2 to an answer that neither refuses nor harms, on the 3-level Fairness scale
    assert [j.score for j in store.judgments(run, scorer).values()] == [2] * 5
    assert judge_server.requests == 5
