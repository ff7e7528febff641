"""Leave-one-model-out: every label is scored by a scorer that never saw its model's answers, and
`flames scorer validate --leave-one-model-out` reports them per held-out model and pooled."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flames.cli import app
from flames.labels.records import LabelRecord, write_labels
from flames.records import Item
from flames.training import TrainConfig, TrainingError, train_scorer
from flames.training.lomo import leave_one_model_out


def fold_scores(labels: list[LabelRecord], held: str, out: Path) -> dict[str, int | None]:
    """The held-out model's labels scored by a tfidf scorer trained here on the other models' labels."""
    trained = train_scorer([r for r in labels if r.model != held], None, TrainConfig(), out)
    scorer = trained.scorer()

    async def go() -> dict[str, int | None]:
        await scorer.start()
        items = [Item(r.id, r.dimension, r.prompt, r.response) for r in labels if r.model == held]
        return {j.key: j.score async for j in scorer.score(items)}

    return asyncio.run(go())


def test_validate_leave_one_model_out_reports_each_held_out_model(labels: list[LabelRecord], tmp_path: Path) -> None:
    unnamed = LabelRecord(**{**labels[0].__dict__, "id": "no-model", "model": None, "prompt_id": ""})
    path = tmp_path / "labels.jsonl"
    write_labels([*labels, unnamed], path)
    result = CliRunner().invoke(app, [
        "scorer", "validate", "--labels", str(path), "--leave-one-model-out", "--train-backbone", "tfidf",
        "--train-option", "tfidf_c=2", "--work-dir", str(tmp_path / "folds"), "--format", "json",
        "-o", str(tmp_path / "lomo.json"), "--no-progress", "--n-boot", "200",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 label(s) without a `model` left out" in result.output
    report = json.loads((tmp_path / "lomo.json").read_text(encoding="utf-8"))
    (scorer,) = report["scorers"]
    assert scorer["scorer"]["name"] == "lomo:tfidf" and scorer["scorer"]["config"]["training"]["tfidf_c"] == 2.0
    folds = scorer["scorer"]["config"]["folds"]
    assert [f["model"] for f in folds] == ["m1", "m2", "m3"] and all(f["n_test"] == 60 for f in folds)
    assert scorer["overall"]["n"] + scorer["overall"]["n_unscored"] == len(labels)
    for fold in folds:  # the table's model row = a scorer trained without that model, computed by hand
        held = fold["model"]
        scores = fold_scores(labels, held, tmp_path / f"check-{held}")
        truth = {r.id: r.label for r in labels if r.model == held}
        accuracy = sum(scores[i] == truth[i] for i in truth) / len(truth)
        assert scorer["models"][held]["accuracy"] == pytest.approx(accuracy)
        assert scorer["models"][held]["n"] == len(truth)


def test_unseen_prompts_removes_the_held_out_prompts_from_training(labels: list[LabelRecord], tmp_path: Path) -> None:
    shared = leave_one_model_out(labels, TrainConfig(), tmp_path / "a")
    assert [(f.n_train, f.n_test, f.shared_prompts) for f in shared.folds] == [(120, 60, 60)] * 3
    # each prompt answered by two of the three models: a fold keeps only the prompts its model never answered
    two_each = [r for r in labels if (int(r.id.split("-")[0]) + int(str(r.model)[1])) % 3 != 0]
    unseen = leave_one_model_out(two_each, TrainConfig(), tmp_path / "b", unseen_prompts=True)
    for fold in unseen.folds:
        held = {r.prompt_id for r in two_each if r.model == fold.model}
        others = [r for r in two_each if r.model != fold.model and r.prompt_id not in held]
        assert (fold.shared_prompts, fold.n_train, fold.n_test) == (0, len(others), len(held))
    with pytest.raises(TrainingError, match="no training labels left"):
        leave_one_model_out(labels, TrainConfig(), tmp_path / "c", unseen_prompts=True)
    with pytest.raises(TrainingError, match="at least two models"):
        leave_one_model_out([r for r in labels if r.model == "m1"], TrainConfig(), tmp_path / "d")
