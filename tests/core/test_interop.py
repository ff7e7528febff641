"""Answers made by other tools, imported as runs: OpenCompass's FLAMES files (case C09: its data files and a
predictions file; a whole work dir) and eval-anything's FLAMES details file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flames.cli import app
from flames.interop.results import detect, import_results
from flames.prompts import PromptFileError, load_prompt_set, read_prompt_file
from flames.store import Store
from flames.taxonomy import Dimension

C09 = Path(__file__).resolve().parents[2].parent / "shared" / "cases" / "C09-opencompass-json-files"
MODEL = "qwen2.5-7b-instruct"
runner = CliRunner()


def flames(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_case_c09_data_files_read_as_prompt_sets() -> None:
    pretty = read_prompt_file(C09 / "data" / "flames" / "fairness.json")
    one_line = read_prompt_file(C09 / "data" / "flames" / "fairness_oneline.json")
    assert len(pretty) == 5 and pretty.prompts == one_line.prompts
    assert {p.dimension for p in pretty.prompts} == {Dimension.FAIRNESS}


def test_case_c09_predictions_file_imports_as_a_run(tmp_path: Path) -> None:
    predictions = C09 / "predictions" / MODEL / "fairness.json"
    assert detect(predictions) == "opencompass"
    db = f"sqlite:///{tmp_path / 'x.db'}"
    out = flames("runs", "import", str(predictions), "--db", db)
    assert f"imported 5 responses to 5 prompts as run '{MODEL}'" in out  # predictions/<model>/<subset>.json
    again = flames("runs", "import", str(predictions), "--db", db)  # the same file again stores nothing
    assert f"imported 0 responses to 5 prompts as run '{MODEL}' (5 were already stored)" in again
    store = Store(db)
    run = store.get_run(MODEL)
    assert run.model_spec == MODEL and run.meta["subsets"] == ["fairness"]
    responses = store.responses(run)
    assert {r.text for r in responses} == {"这是一个刻板印象，每个人都应被平等对待。"}
    data = read_prompt_file(C09 / "data" / "flames" / "fairness.json")
    assert [r.prompt.id for r in responses] == [p.id for p in data.prompts]  # pairs with runs of the data file
    flames("runs", "import", str(predictions), "--db", db)  # importing again changes nothing
    assert len(store.responses(store.get_run(MODEL))) == 5
    elsewhere = tmp_path / "fairness.json"  # outside a work dir's layout: the file's stem
    shutil.copy(predictions, elsewhere)
    assert "as run 'fairness'" in flames("runs", "import", str(elsewhere), "--db", db)


def test_opencompass_work_dir_one_run_per_model(tmp_path: Path) -> None:
    work = tmp_path / "outputs" / "20250101_120000"
    shutil.copytree(C09, work)
    other = work / "predictions" / "other-model"
    other.mkdir()
    rows = json.loads((work / "predictions" / MODEL / "fairness.json").read_text(encoding="utf-8"))
    for i, row in enumerate(rows.values()):  # an API model: the prompt as a list of turns, answers differ
        row["origin_prompt"] = [{"role": "HUMAN", "prompt": row["origin_prompt"]}]
        row["prediction"] = f"回答{i}"
    (other / "fairness.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'x.db'}"
    out = flames("runs", "import", "--from", "opencompass", str(tmp_path / "outputs"), "--db", db)
    assert f"as run '{MODEL}'" in out and "as run 'other-model'" in out
    store = Store(db)
    other_run = store.get_run("other-model")
    assert other_run.meta["subsets"] == ["fairness"] and other_run.model_spec == "other-model"
    assert sorted(r.text for r in store.responses(other_run)) == [f"回答{i}" for i in range(5)]
    result = runner.invoke(app, ["runs", "import", str(work), "--from", "opencompass", "--run", "x", "--db", db])
    assert isinstance(result.exception, PromptFileError)  # printed without a traceback by `flames` (exit 2)
    assert "--run names one run, but there are 2 models" in str(result.exception)


def test_opencompass_predictions_must_match_the_data_file(tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(C09, work)
    data = work / "data" / "flames" / "fairness.json"
    items = json.loads(data.read_text(encoding="utf-8"))
    items[2]["prompt"] = "另一个问题"
    data.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(PromptFileError, match="item 3 is not the prompt of this prediction") as err:
        import_results(Store("sqlite://"), work)
    assert str(err.value).startswith(f"{work / 'predictions' / MODEL / 'fairness.json'}, key '2'")


def test_opencompass_prediction_without_gold_or_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fairness.json"
    path.write_text(json.dumps({"0": {"origin_prompt": "问题", "prediction": "回答"}}), encoding="utf-8")
    with pytest.raises(PromptFileError, match="field 'gold'"):
        import_results(Store("sqlite://"), path)


def _details(prompts: list[str], answers: list[Any], uuids: list[str]) -> str:
    return "".join(
        json.dumps({"input": {"task": "Flames", "conversation": [{"role": "user", "content": p}], "uuid": u,
                              "ref_answer": None},
                    "output": {"task": "Flames", "uuid": u, "response": a, "engine": "vllm"}},
                   ensure_ascii=False) + "\n"
        for p, a, u in zip(prompts, answers, uuids, strict=True)
    )  # fmt: skip


def test_eval_anything_details_import_with_dimensions_from_the_prompt_set(flames_1k: Path, tmp_path: Path) -> None:
    flames_1k_set = load_prompt_set(flames_1k)
    picked = [flames_1k_set.prompts[i] for i in (0, 300, 900)]
    path = tmp_path / "details_Flames.jsonl"
    texts = [p.prompt for p in picked]
    path.write_text(
        _details([*texts, texts[0]], ["旧回答", ["甲", "乙"], "丙", "新回答"], ["u0", "u1", "u2", "u0"]),
        encoding="utf-8",
    )  # the file is appended on every run of the tool: the later line for u0 wins
    db = f"sqlite:///{tmp_path / 'x.db'}"
    out = flames("runs", "import", str(path), "--from", "eval-anything", "--prompts", str(flames_1k), "--db", db)
    assert "imported 4 responses to 3 prompts as run 'details_Flames'" in out
    store = Store(db)
    run = store.get_run("details_Flames")
    assert run.samples == 2
    got = {(r.prompt.id, r.sample_index): (r.prompt.dimension, r.text) for r in store.responses(run)}
    assert got == {
        (picked[0].id, 0): (picked[0].dimension, "新回答"),
        (picked[1].id, 0): (picked[1].dimension, "甲"),
        (picked[1].id, 1): (picked[1].dimension, "乙"),
        (picked[2].id, 0): (picked[2].dimension, "丙"),
    }
    assert detect(path) == "eval-anything"


def test_eval_anything_prompt_missing_from_the_set_is_named(flames_1k: Path, tmp_path: Path) -> None:
    path = tmp_path / "details_Flames.jsonl"
    path.write_text(_details(["一个不在集合里的问题"], ["回答"], ["u9"]), encoding="utf-8")
    with pytest.raises(PromptFileError, match="not in the prompt set") as err:
        import_results(Store("sqlite://"), path, "eval-anything", prompts=str(flames_1k))
    assert str(err.value).startswith(f"{path}, line 1, field 'input.conversation'")
