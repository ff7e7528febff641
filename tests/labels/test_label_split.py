"""`flames labels split`: grouped splits keep models and prompts unseen, and say when prompts leak."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flames.cli import app
from flames.labels.records import LabelRecord, read_labels, write_labels
from flames.labels.split import split_labels
from flames.taxonomy import Dimension

MODELS = ("m1", "m2", "m3", "m4")
PROMPTS = 10


def _labels() -> list[LabelRecord]:
    """Every model answers every prompt: 40 labels, 10 prompts shared by 4 models (as FLAMES)."""
    return [
        LabelRecord(f"{m}:{p}", Dimension.SAFETY, f"问题 {p}", f"{m} 的回答 {p}", 3 if (p + i) % 2 else 1, "t", "x",
                    {"rule": "r", "version": 1}, "human", "MIT", model=m)
        for i, m in enumerate(MODELS) for p in range(PROMPTS)
    ]  # fmt: skip


def test_by_prompt_has_no_leakage_and_covers_everything() -> None:
    (split,) = split_labels(_labels(), "prompt", test_size=0.3, dev_size=0.2, seed=1)
    assert split.leaked == (0, 0)
    assert len(split.test) == 3 * len(MODELS)  # 3 of 10 prompts, all their answers
    assert len(split.train) + len(split.dev) + len(split.test) == 40
    assert {r.prompt_id for r in split.dev}.isdisjoint({r.prompt_id for r in split.train})


def test_by_model_holdout_leaks_prompts_and_says_so() -> None:
    (split,) = split_labels(_labels(), "model", holdout_models=["m2", "m4"])
    assert {r.model for r in split.test} == {"m2", "m4"} and {r.model for r in split.train} == {"m1", "m3"}
    assert split.leaked == (20, PROMPTS)  # every test prompt was answered by a training model
    with pytest.raises(ValueError, match="m9 not in the labels"):
        split_labels(_labels(), "model", holdout_models=["m9"])


def test_leave_one_model_out_folds() -> None:
    folds = split_labels(_labels(), "model", folds=len(MODELS))
    assert sorted(f.test_models for f in folds) == [(m,) for m in MODELS]
    assert all(len(f.test) == PROMPTS and len(f.train) == 30 for f in folds)


def test_model_plus_prompt_holds_out_both_and_drops_the_mixed_cells() -> None:
    (split,) = split_labels(_labels(), "model+prompt", holdout_models=["m1"], test_size=0.2, seed=3)
    test_prompts = {r.prompt_id for r in split.test}
    assert {r.model for r in split.test} == {"m1"} and len(test_prompts) == 2
    assert "m1" not in {r.model for r in split.train} and test_prompts.isdisjoint({r.prompt_id for r in split.train})
    assert split.leaked == (0, 0)
    assert split.dropped == 40 - 2 - 3 * 8  # m1 on training prompts, other models on test prompts


def test_random_split_is_reproducible() -> None:
    a = split_labels(_labels(), "random", test_size=0.25, seed=7)[0]
    b = split_labels(_labels(), "random", test_size=0.25, seed=7)[0]
    c = split_labels(_labels(), "random", test_size=0.25, seed=8)[0]
    assert [r.id for r in a.test] == [r.id for r in b.test] != [r.id for r in c.test]
    assert len(a.test) == 10


def test_model_split_needs_models() -> None:
    labels = [LabelRecord("a", Dimension.SAFETY, "p", "r", 3, "t", "x", {"rule": "r"}, "human", "MIT")] * 2
    with pytest.raises(ValueError, match="names no model"):
        split_labels(labels, "model")


@pytest.mark.parametrize(("test_size", "dev_size", "option"), [(1.5, 0.0, "--test-size"), (0.0, 0.0, "--test-size"),
                                                            (0.2, 1.0, "--dev-size"), (0.2, -0.1, "--dev-size")])
def test_shares_outside_zero_one_are_refused(test_size: float, dev_size: float, option: str) -> None:
    # before: --test-size 1.5 silently wrote every prompt but one to test.jsonl
    with pytest.raises(ValueError, match=f"{option} is a share"):
        split_labels(_labels(), "prompt", test_size=test_size, dev_size=dev_size)


def test_cli_writes_files_and_warns_about_leakage(tmp_path: Path) -> None:
    labels = tmp_path / "l.jsonl"
    write_labels(_labels(), labels)
    result = CliRunner().invoke(app, ["labels", "split", str(labels), "--by", "model", "--folds", "2"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "l-split-model"
    assert "share a prompt with training labels" in result.output
    for fold in ("fold-1", "fold-2"):
        assert len(read_labels(out / fold / "test.jsonl")) == 20
        summary = json.loads((out / fold / "split.json").read_text(encoding="utf-8"))
        assert summary["by"] == "model" and summary["prompt_leakage"]["test_labels"] == 20
    clean = CliRunner().invoke(app, ["labels", "split", str(labels), "--by", "prompt", "-o", str(tmp_path / "p")])
    assert clean.exit_code == 0 and "share a prompt" not in clean.output
    assert (tmp_path / "p" / "train.jsonl").is_file()
    bad = CliRunner().invoke(app, ["labels", "split", str(labels), "--by", "colour"])
    assert bad.exit_code == 2 and "--by must be one of" in bad.output


def test_split_parts_carry_the_label_sets_provenance(tmp_path: Path) -> None:
    """A JADE test split still says what its labels are (construction, binary) when it is validated."""
    src = tmp_path / "jade.csv"
    src.write_text("ID,问题,违规回答,安全有用回答\n" + "".join(f"{i},问题{i},具体做法{i}……,很抱歉，不能帮助{i}。\n"
                                                              for i in range(20)), encoding="utf-8")  # fmt: skip
    labels = tmp_path / "jade.jsonl"
    runner = CliRunner()
    assert runner.invoke(app, ["labels", "import", "jade-v3", str(src), "-o", str(labels)]).exit_code == 0
    result = runner.invoke(app, ["labels", "split", str(labels), "--by", "prompt", "-o", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    test = tmp_path / "s" / "test.jsonl"
    part = json.loads((tmp_path / "s" / "test.manifest.json").read_text(encoding="utf-8"))
    parent = json.loads((tmp_path / "jade.manifest.json").read_text(encoding="utf-8"))
    assert part["source"] == parent["source"] and part["notes"] == parent["notes"]
    assert part["binary"] and not part["validates_3_vs_2"] and part["n"] == len(read_labels(test))
    assert part["derived_from"] | {"labels_sha256": None} == {
        "labels_file": "jade.jsonl", "labels_sha256": None, "manifest": "jade.manifest.json", "by": "prompt",
        "seed": 0, "fold": None, "part": "test",
    }  # fmt: skip
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps({"id": r.id, "predicted": 3}) + "\n" for r in read_labels(test)))
    report = runner.invoke(app, ["scorer", "validate", "--labels", str(test), "--predictions", str(pred), "-f", "json",
                                 "--n-boot", "50"])  # fmt: skip
    assert report.exit_code == 0, report.output
    about = json.loads(report.stdout)["labels"]
    assert (about["source"], about["binary"], about["validates_3_vs_2"]) == ("jade-v3", True, False)
