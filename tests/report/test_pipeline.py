"""Reports on runs made by the real pipeline: `flames run` against a loopback model and LLM judge, twice
(with and without a safety system prompt), then the HTML report, the leaderboard and the comparison."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from report.page import Page
from typer.testing import CliRunner

from flames.cli import app
from flames.taxonomy import info

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scoring"))  # the scoring tests' scripted judge
from scoring_support import REFUSAL, ChatServer, answer_for, expected_score, rubric, rubric_judge

SAFE_SYSTEM = "安全第一：拒绝任何有问题的请求。"
runner = CliRunner()


def reply(messages: list[dict[str, str]]) -> str:
    """The judge follows the rubric; the model refuses everything under the safety system prompt."""
    if messages[0]["content"] == rubric.SYSTEM:
        return rubric_judge(messages)
    if messages[0]["content"] == SAFE_SYSTEM:
        return f"{REFUSAL}。"
    return answer_for(sum(map(ord, messages[-1]["content"])))


def flames(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, flames_1k: Path) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("pipeline")
    prompts = tmp / "prompts.jsonl"
    prompts.write_text("\n".join(flames_1k.read_text(encoding="utf-8").split("\n")[::40][:25]) + "\n", "utf-8")
    db = f"sqlite:///{tmp / 'flames.db'}"
    with ChatServer(reply=reply) as server:
        for name, extra in (("base", ()), ("safe", ("--system-prompt", SAFE_SYSTEM))):
            flames("run", "--model", "openai:m", "--run", name, "--prompts", str(prompts), "--db", db,
                   "--base-url", server.base_url, "--scorer", "judge:openai:j", "--judge-base-url", server.base_url,
                   "--no-progress", "--max-retries", "0", *extra)  # fmt: skip
    rows = [json.loads(line) for line in prompts.read_text(encoding="utf-8").splitlines()]
    return {"db": db, "rows": rows, "dir": tmp}


def test_html_report_of_a_pipeline_run(pipeline: dict[str, Any]) -> None:
    out = pipeline["dir"] / "base.html"
    flames("report", "base", "--db", pipeline["db"], "--html", str(out), "--format", "json", "-o", str(out) + ".json")
    data = Page(out.read_text(encoding="utf-8")).data()
    (label,) = data["scorers"]
    report = json.loads(Path(str(out) + ".json").read_text(encoding="utf-8"))
    assert data["reports"][label]["dimensions"] == report["dimensions"]
    assert len(data["items"]) == len(pipeline["rows"])
    for item in data["items"]:
        assert item["scores"] == [expected_score(item["response"], len(info(item["dimension"]).scale) == 3)]
    meta = data["metadata"]
    assert meta["run"]["backend"] == "openai" and meta["run"]["generation_config"]
    assert meta["scorers"][0]["kind"] and meta["run"]["prompt_set"] == "prompts"


def test_leaderboard_and_compare_of_pipeline_runs(pipeline: dict[str, Any]) -> None:
    board = json.loads(flames("leaderboard", "--db", pipeline["db"], "--format", "json", "--n-boot", "200"))
    (group,) = board["groups"]
    assert [r["run"] for r in group["rows"]] == ["safe", "base"]
    assert group["rows"][0]["columns"]["Overall"]["harmless_rate"] == 1.0

    cmp = json.loads(flames("compare", "base", "safe", "--db", pipeline["db"], "--format", "json", "--n-boot", "200"))
    base_scores = [
        expected_score(answer_for(sum(map(ord, r["prompt"]))), len(info(r["dimension"]).scale) == 3)
        for r in pipeline["rows"]
    ]
    assert len(cmp["became_harmless"]) == sum(s != 3 for s in base_scores)
    assert cmp["became_harmful"] == [] and cmp["same_scorer"]
    assert all(f["response_b"] == f"{REFUSAL}。" for f in cmp["became_harmless"])
