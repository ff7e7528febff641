"""`flames experiment generalisation`: leave-one-model-out (and leave-one-group-out) with the tfidf preset; each
held-out group's human, raw and corrected harmless rates checked against folds trained here by hand; resume."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from training_support import synthetic_labels
from typer.testing import CliRunner

from flames.cli import app
from flames.correction import rogan_gladen
from flames.experiments.generalisation import generalisation, group_of
from flames.labels.records import LabelRecord, write_labels
from flames.metrics import BootstrapConfig
from flames.records import Item
from flames.store import Store
from flames.taxonomy import Dimension
from flames.training import TrainConfig, TrainingError, train_or_reuse, train_scorer

BOOT = BootstrapConfig(n_boot=300)
MODELS = ("m1", "m2", "m3", "m4")


@pytest.fixture(scope="module")
def labels(flames_1k: Path) -> list[LabelRecord]:
    rows = [json.loads(line) for line in flames_1k.read_text(encoding="utf-8").splitlines()]
    safety, legality = ([r for r in rows if r["dimension"] == d][:24] for d in ("Safety", "Legality"))
    prompts = safety + legality
    return synthetic_labels(prompts, MODELS)


def out_of_fold(labels: list[LabelRecord], tmp: Path) -> dict[str, int | None]:
    """Every label scored by a tfidf scorer trained here on the other models' labels."""
    async def held_out(model: str) -> dict[str, int | None]:
        scorer = train_scorer([r for r in labels if r.model != model], None, TrainConfig(), tmp / model).scorer()
        await scorer.start()
        items = [Item(r.id, r.dimension, r.prompt, r.response) for r in labels if r.model == model]
        return {j.key: j.score async for j in scorer.score(items)}

    return {k: v for model in MODELS for k, v in asyncio.run(held_out(model)).items()}


def harmless(labels: list[LabelRecord], scores: dict[str, int | None] | None, dim: Dimension) -> float:
    values = [(scores[r.id] if scores else r.label) for r in labels if r.dimension == dim]
    scored = [v for v in values if v is not None]
    return sum(v == 3 for v in scored) / len(scored)


def test_each_held_out_model_against_folds_trained_by_hand(labels: list[LabelRecord], tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    write_labels(labels, path)
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    res = generalisation(labels, path, TrainConfig(), tmp_path / "folds", boot=BOOT, store=store)
    oof = out_of_fold(labels, tmp_path / "by-hand")
    groups = {g["group"]: g for g in res.results["groups"]}
    assert sorted(groups) == list(MODELS) and all(g["n_labels"] == 48 for g in groups.values())
    legality, safety = Dimension.LEGALITY, Dimension.SAFETY
    corrected_by_hand = 0
    for model, g in groups.items():
        mine = [r for r in labels if r.model == model]
        human = {d: harmless(mine, None, d) for d in (safety, legality)}
        raw = {d: harmless(mine, oof, d) for d in (safety, legality)}
        assert g["overall"]["human"]["value"] == pytest.approx(np.mean(list(human.values())))  # FLAMES overall
        assert g["dimensions"]["Legality"]["raw"]["value"] == pytest.approx(raw[legality])
        assert g["overall"]["raw"]["value"] == pytest.approx(np.mean(list(raw.values())))
        # Legality is 3/1: its correction is Rogan–Gladen with Se, Sp of the other models' out-of-fold verdicts
        others = [r for r in labels if r.model != model and r.dimension == legality]
        se = np.mean([oof[r.id] == 3 for r in others if r.label == 3])
        sp = np.mean([oof[r.id] != 3 for r in others if r.label != 3])
        if se + sp > 1:
            expected = float(rogan_gladen(raw[legality], se, sp))
            assert g["dimensions"]["Legality"]["corrected"]["value"] == pytest.approx(expected)
            corrected_by_hand += 1
        accuracy = np.mean([oof[r.id] == r.label for r in mine if r.dimension == safety])
        assert g["agreement"]["Safety"]["accuracy"] == pytest.approx(accuracy)
        covered = g["overall"]["covered"]
        ci = g["overall"]["corrected"]["ci"]
        assert covered is None or covered == (ci[0] <= g["overall"]["human"]["value"] <= ci[1])
    assert corrected_by_hand >= 3
    s = res.results["summary"]
    assert s["groups"] == 4 and s["corrected_coverage"]["n"] <= 4
    assert s["mean_absolute_error_raw"] == pytest.approx(np.mean([g["overall"]["raw_error"] for g in groups.values()]))
    assert res.inputs["labels"]["sha256"] and res.inputs["training"]["backbone"] == "tfidf"
    assert all(len(g["fold"]["manifest_sha256"]) == 64 for g in groups.values())
    assert any("only 4 held-out groups" in w for w in res.warnings)


def test_resume_reuses_folds_and_verdicts(labels: list[LabelRecord], tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    write_labels(labels, path)
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    first = generalisation(labels, path, TrainConfig(), tmp_path / "folds", boot=BOOT, store=store)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "folds").glob("*/flames_scorer.json")}
    again = generalisation(labels, path, TrainConfig(), tmp_path / "folds", boot=BOOT, store=store)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # no fold trained again
    def figures(res: Any) -> list[dict[str, Any]]:  # everything but the fold's wall time
        return [{k: v for k, v in g.items() if k != "fold"} for g in res.results["groups"]]

    assert figures(again) == figures(first) and again.results["summary"] == first.results["summary"]
    with pytest.raises(TrainingError, match="other labels or settings"):
        train_or_reuse(labels[:40], None, TrainConfig(), next(iter(stamps)).parent)


def test_leave_one_group_out_by_a_meta_field(labels: list[LabelRecord], tmp_path: Path) -> None:
    family = {"m1": "a", "m2": "a", "m3": "b", "m4": "b"}
    tagged = [replace(r, meta={"family": family[str(r.model)]}) if r.model != "m4" else r for r in labels]
    assert group_of(tagged[0], "meta.family") == "a" and group_of(tagged[0], "model") == "m1"
    with pytest.raises(ValueError, match=r"meta\.KEY"):
        group_of(tagged[0], "prompt")
    path = tmp_path / "labels.jsonl"
    write_labels(tagged, path)
    res = generalisation(tagged, path, TrainConfig(), tmp_path / "folds", group_by="meta.family", boot=BOOT)
    assert [g["group"] for g in res.results["groups"]] == ["a", "b"]
    assert [g["n_labels"] for g in res.results["groups"]] == [96, 48]  # m4 has no family: left out
    assert res.results["without_group"] == 48 and any("have no meta.family" in w for w in res.warnings)


def test_cli(labels: list[LabelRecord], tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    write_labels(labels, path)
    out = tmp_path / "gen"
    result = CliRunner().invoke(app, ["experiment", "generalisation", "--labels", str(path), "--out", str(out),
                                      "--db", f"sqlite:///{tmp_path / 'f.db'}", "--no-progress", "--n-boot", "200",
                                      "--train-option", "tfidf_c=2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "fold m1: trained on 144 labels" in " ".join(result.output.split())
    data = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert data["experiment"] == "generalisation" and data["inputs"]["training"]["tfidf_c"] == 2.0
    assert (out / "scorers").is_dir() and (out / "result.html").is_file()
    bad = CliRunner().invoke(app, ["experiment", "generalisation", "--labels", str(path), "--group-by", "prompt",
                                   "--out", str(out), "--no-progress"])  # fmt: skip
    assert bad.exit_code == 2 and "meta.KEY" in bad.output
