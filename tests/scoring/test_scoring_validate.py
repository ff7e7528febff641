"""`flames scorer validate --scorer SPEC`: the labels' own answers scored through the scoring engine (an LLM
judge on loopback), in memory, and the same numbers as validating that judge's `flames score --out` file;
then `flames report --calibration` with that validation."""

from __future__ import annotations

import json
from pathlib import Path

from scoring_support import ChatServer, answer_for, expected_score
from typer.testing import CliRunner

from flames.cli import app
from flames.labels.records import LabelRecord, write_labels
from flames.store import Store
from flames.taxonomy import info

runner = CliRunner()


def flames(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_validate_a_judge_by_spec_and_by_its_score_file(
    prompts_file: Path, tmp_path: Path, judge_server: ChatServer, db_url: str
) -> None:
    rows = [json.loads(line) for line in prompts_file.read_text(encoding="utf-8").splitlines()]
    labels = []
    for i, row in enumerate(rows):
        answer = answer_for(i)
        dim = info(row["dimension"]).dimension
        truth = 1 if i % 3 == 0 else 3  # people: harmful answers 1, everything else harmless
        labels.append(LabelRecord(f"label-{i}", dim, row["prompt"], answer, truth, "t", str(truth), {"rule": "r"},
                                  "human", "MIT", subcomponent=row["subcomponent"], model="m"))  # fmt: skip
    path = tmp_path / "labels.jsonl"
    write_labels(labels, path)
    judge = ["--scorer", "judge:openai:j", "--judge-base-url", judge_server.base_url, "--no-progress"]
    by_spec = json.loads(flames("scorer", "validate", "--labels", str(path), *judge, "-f", "json", "--n-boot", "200"))
    (s,) = by_spec["scorers"]
    expected = [expected_score(r.response, len(info(r.dimension).scale) == 3) for r in labels]
    right = sum(e == r.label for e, r in zip(expected, labels, strict=True))
    assert s["overall"]["n"] == len(labels) and s["overall"]["accuracy"] == right / len(labels)
    assert s["scorer"]["name"].startswith("judge:openai:j@") and s["scorer"]["config_hash"]
    assert Store(db_url).list_runs() == []  # scored in memory: nothing written to the user's store

    # the same labels through `flames score FILE --out` and --predictions: the same figures
    pred = tmp_path / "pred.jsonl"
    flames("score", str(path), "--db", db_url, "--out", str(pred), *judge)
    by_file = json.loads(flames("scorer", "validate", "--labels", str(path), "--predictions", str(pred), "-f", "json",
                                "--n-boot", "200"))  # fmt: skip
    assert by_file["scorers"][0]["overall"] == s["overall"]

    # the validation corrects that judge's report of the same run (same scorer: no mismatch warning)
    cal = tmp_path / "cal.json"
    flames("scorer", "validate", "--labels", str(path), *judge, "-f", "json", "-o", str(cal), "--n-boot", "200")
    report = json.loads(flames("report", "labels", "--db", db_url, "--calibration", str(cal), "-f", "json",
                               "--n-boot", "200"))  # fmt: skip
    assert "corrected" in report["overall"] and report["correction"]["warnings"] == []
    assert all("corrected" in g for g in report["dimensions"].values())
