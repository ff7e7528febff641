"""`flames experiment backbones`: tfidf and a tiny transformer encoder trained on the same split, a judge as a
baseline, figures against scikit-learn, paired tests, costs, resume, and leave-one-model-out for every backbone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from experiment_support import KeywordScorer
from tiny_backbones import build_tiny_encoder
from training_support import HARMFUL, synthetic_labels
from typer.testing import CliRunner

from flames.cli import app
from flames.experiments.backbones import TIMING_FILE, backbones, slug
from flames.labels.records import LabelRecord, write_labels
from flames.labels.split import split_labels
from flames.metrics import BootstrapConfig
from flames.store import Store
from flames.training import TrainConfig

BOOT = BootstrapConfig(n_boot=200)
FAST = {"epochs": 1, "batch_size": 8, "max_length": 128, "learning_rate": 3e-3, "max_steps": 6}


@pytest.fixture(scope="module")
def labels(flames_1k: Path) -> list[LabelRecord]:
    rows = [json.loads(line) for line in flames_1k.read_text(encoding="utf-8").splitlines()]
    safety, legality = ([r for r in rows if r["dimension"] == d][:30] for d in ("Safety", "Legality"))
    return synthetic_labels(safety + legality)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a shared machine: a second thread only spins
    yield build_tiny_encoder(tmp_path_factory.mktemp("backbones") / "tiny-bert")
    torch.set_num_threads(before)


def test_backbones_on_one_prompt_split(labels: list[LabelRecord], encoder: Path, tmp_path: Path) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    path = tmp_path / "labels.jsonl"
    write_labels(labels, path)
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    configs = [TrainConfig(backbone=str(encoder), **FAST)]  # type: ignore[arg-type]
    judge = KeywordScorer(harmful=HARMFUL)
    res = backbones(labels, path, configs, tmp_path / "work", judges=[judge], boot=BOOT, store=store)
    rows = {r["kind"] + ":" + r["backbone"]: r for r in res.results["scorers"]}
    assert list(rows) == ["trained:tfidf", f"trained:{encoder}", "judge:keyword"]  # tfidf joins as a baseline
    (part,) = split_labels(labels, "prompt", test_size=0.3, dev_size=0.1, seed=0)  # the split every scorer saw
    assert res.results["split_summary"]["test"] == len(part.test) and res.results["split_summary"]["leaked_labels"] == 0
    expected = {r.id: judge.verdict(r.dimension, r.response) for r in part.test}
    keyword = rows["judge:keyword"]
    truth = [r.label for r in part.test]
    assert keyword["overall"]["accuracy"] == pytest.approx(accuracy_score(truth, [expected[r.id] for r in part.test]))
    assert keyword["overall"]["macro_f1"]["value"] == pytest.approx(
        f1_score(truth, [expected[r.id] for r in part.test], average="macro"))
    safety = [r for r in part.test if r.dimension.value == "Safety"]
    assert keyword["dimensions"]["Safety"]["macro_f1"]["value"] == pytest.approx(
        f1_score([r.label for r in safety], [expected[r.id] for r in safety], average="macro"))
    for row in rows.values():
        lo, hi = row["overall"]["macro_f1"]["ci"]
        assert lo <= row["overall"]["macro_f1"]["value"] <= hi
        assert row["overall"]["kappa_linear"]["ci"] is not None
    assert len(res.results["comparisons"]) == 3 and all(c["n"] > 0 for c in res.results["comparisons"])
    tfidf_cost, encoder_cost = rows["trained:tfidf"]["cost"], rows[f"trained:{encoder}"]["cost"]
    assert encoder_cost["train_seconds"] > 0 and encoder_cost["inference_items_per_s"] > 0
    assert encoder_cost["process_peak_rss_bytes"] > 0 and tfidf_cost["timed_items"] == len(part.test)
    assert keyword["cost"]["timed_items"] == len(part.test)  # the judge was measured while it judged
    assert all(len(r["config_hash"]) == 64 for r in rows.values())  # every scorer's identity is recorded
    # resume: nothing trained or judged again, costs as first measured
    stamp = (tmp_path / "work" / slug(str(encoder)) / "flames_scorer.json").stat().st_mtime_ns
    again_judge = KeywordScorer(harmful=HARMFUL)
    again = backbones(labels, path, configs, tmp_path / "work", judges=[again_judge], boot=BOOT, store=store)
    assert again_judge.calls == 0 and (tmp_path / "work" / slug(str(encoder)) / "flames_scorer.json").stat(
    ).st_mtime_ns == stamp  # fmt: skip
    assert again.results["scorers"][1]["cost"] == encoder_cost
    assert (tmp_path / "work" / "tfidf" / TIMING_FILE).is_file()


def test_leave_one_model_out_for_every_backbone_via_the_cli(labels: list[LabelRecord], tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    write_labels(labels, path)
    out = tmp_path / "bb"
    result = CliRunner().invoke(app, ["experiment", "backbones", "--labels", str(path), "--backbone", "tfidf",
                                      "--split", "model", "--out", str(out), "--db", f"sqlite:///{tmp_path / 'f.db'}",
                                      "--no-progress", "--n-boot", "200"])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((out / "result.json").read_text(encoding="utf-8"))
    (row,) = data["results"]["scorers"]
    assert row["name"] == "lomo:tfidf" and [f["model"] for f in row["folds"]] == ["m1", "m2", "m3"]
    assert data["results"]["split_summary"]["test"] == len(labels) and row["overall"]["n"] == len(labels)
    twice = CliRunner().invoke(app, ["experiment", "backbones", "--labels", str(path), "--backbone", "tfidf",
                                     "--backbone", "tfidf", "--out", str(out), "--no-progress"])  # fmt: skip
    assert twice.exit_code == 2 and "named twice" in twice.output
