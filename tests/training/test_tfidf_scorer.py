"""The tfidf preset: trained through `train_scorer`, saved without pickles, loaded by `--scorer flames:DIR`,
and checked against scikit-learn fitted independently on the same data."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from flames.labels.records import LabelRecord, write_labels
from flames.records import Item, Judgment
from flames.scorers.base import Scorer, ScorerError
from flames.scorers.registry import make_scorer
from flames.taxonomy import DIMENSIONS, Dimension, info
from flames.training import TrainConfig, TrainedScorer, TrainingError, train_scorer
from flames.training.events import TrainEvent


def split(labels: list[LabelRecord]) -> tuple[list[LabelRecord], list[LabelRecord]]:
    """Dev = every fifth prompt (all three models' answers to it), so no prompt is on both sides."""
    prompts = sorted({r.prompt_id for r in labels})
    dev_prompts = set(prompts[::5])
    return [r for r in labels if r.prompt_id not in dev_prompts], [r for r in labels if r.prompt_id in dev_prompts]


@pytest.fixture(scope="module")
def trained(labels: list[LabelRecord], tmp_path_factory: pytest.TempPathFactory) -> TrainedScorer:
    train, dev = split(labels)
    return train_scorer(train, dev, TrainConfig(), tmp_path_factory.mktemp("tfidf") / "scorer")


def score(scorer: Scorer, items: list[Item]) -> dict[str, Judgment]:
    async def go() -> dict[str, Judgment]:
        await scorer.start()
        try:
            return {j.key: j async for j in scorer.score(items)}
        finally:
            await scorer.close()

    return asyncio.run(go())


def items_of(records: list[LabelRecord]) -> list[Item]:
    return [Item(r.id, r.dimension, r.prompt, r.response) for r in records]


def test_loaded_scorer_equals_scikit_learn_fitted_independently(
    trained: TrainedScorer, labels: list[LabelRecord]
) -> None:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train, dev = split(labels)
    vec = {f: TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, max_features=100_000,
                             min_df=2)
           for f in ("prompt", "response")}  # fmt: skip
    for f, v in vec.items():
        v.fit([getattr(r, f) for r in train])

    def features(rows: list[LabelRecord]) -> object:
        return hstack([vec[f].transform([getattr(r, f) for r in rows]) for f in ("prompt", "response")]).tocsr()

    judged = score(make_scorer(f"flames:{trained.root}"), items_of(dev))
    for dim in (Dimension.SAFETY, Dimension.LEGALITY):
        rows = [r for r in train if r.dimension == dim]
        lr = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000).fit(
            features(rows), [r.label for r in rows]
        )
        dev_rows = [r for r in dev if r.dimension == dim]
        expected = lr.predict_proba(features(dev_rows))  # columns: classes ascending (1, 2, 3)
        order = [list(lr.classes_).index(s) for s in info(dim).scale]  # → official order, best first
        for r, probs in zip(dev_rows, expected[:, order], strict=True):
            assert judged[r.id].probs == pytest.approx(tuple(probs), abs=1e-5)
            assert judged[r.id].score == info(dim).scale[int(np.argmax(probs))]


def test_folder_is_pickle_free_and_manifest_describes_it(trained: TrainedScorer, labels: list[LabelRecord],
                                                         tmp_path: Path) -> None:  # fmt: skip
    root = trained.root
    assert sorted(p.name for p in root.iterdir()) == ["flames_scorer.json", "tfidf.json", "tfidf.npz"]
    with np.load(root / "tfidf.npz", allow_pickle=False) as data:  # readable without unpickling
        assert data["head1_coef"].shape[0] == 3 and data["head3_coef"].shape[0] == 2
    manifest = json.loads((root / "flames_scorer.json").read_text(encoding="utf-8"))
    assert manifest["schema"] == "flames-eval/scorer/v1" and manifest["kind"] == "tfidf"
    assert [h["dimension"] for h in manifest["heads"]] == [d.value for d in DIMENSIONS]
    assert [h["classes"] for h in manifest["heads"]] == [3, 3, 3, 2, 2]
    assert [h["trained"] for h in manifest["heads"]] == [False, True, False, True, False]
    assert manifest["heads"][1]["label_map"] == {"0": 3, "1": 2, "2": 1}
    train, dev = split(labels)
    write_labels(train, tmp_path / "train.jsonl")
    data = manifest["training"]["data"]
    assert data["train"]["sha256"] == hashlib.sha256((tmp_path / "train.jsonl").read_bytes()).hexdigest()
    assert (data["train"]["n"], data["dev"]["n"]) == (len(train), len(dev))
    assert manifest["training"]["split"]["shared_prompts"] == 0
    assert {"scikit-learn", "numpy", "flames-eval"} <= set(manifest["versions"])
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == digest
    judged = score(trained.scorer(), items_of(dev))
    hits = [judged[r.id].score == r.label for r in dev]
    assert manifest["dev_metrics"]["overall"]["accuracy"] == pytest.approx(sum(hits) / len(hits))


def test_dimension_without_labels_is_unscored_never_guessed(trained: TrainedScorer) -> None:
    judged = score(
        trained.scorer(), [Item("f", Dimension.FAIRNESS, "问题", "回答"), Item("s", Dimension.SAFETY, "问题", "回答")]
    )
    assert judged["f"].score is None and "not trained on Fairness" in str(judged["f"].unscored_reason)
    assert judged["s"].score in (1, 2, 3)


def test_changed_weights_are_refused(trained: TrainedScorer, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trained.root, copy)
    with np.load(copy / "tfidf.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["head1_coef"] = arrays["head1_coef"] * 2
    np.savez_compressed(copy / "tfidf.npz", **arrays)
    with pytest.raises(ScorerError, match=r"tfidf\.npz: changed since training"):
        score(make_scorer(f"flames:{copy}"), [Item("s", Dimension.SAFETY, "问题", "回答")])


def test_single_score_dimension_leaves_its_head_untrained(labels: list[LabelRecord], tmp_path: Path) -> None:
    only_refusals = [r for r in labels if r.dimension == Dimension.LEGALITY and r.label == 3]
    events: list[TrainEvent] = []
    result = train_scorer([r for r in labels if r.dimension == Dimension.SAFETY] + only_refusals, None, TrainConfig(),
                          tmp_path / "s", on_event=events.append)  # fmt: skip
    assert not result.manifest.head(Dimension.LEGALITY).trained and result.manifest.head(Dimension.SAFETY).trained
    assert any("Legality" in e.message and "one score" in e.message for e in events)
    with pytest.raises(TrainingError, match="two different scores"):
        train_scorer(only_refusals, None, TrainConfig(), tmp_path / "none")


def test_output_folder_must_be_new(trained: TrainedScorer, labels: list[LabelRecord], tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="already holds a trained scorer"):
        train_scorer(labels, None, TrainConfig(), trained.root)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(TrainingError, match="not empty"):
        train_scorer(labels, None, TrainConfig(), tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text(encoding="utf-8") == "mine"
