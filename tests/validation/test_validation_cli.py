"""`flames scorer validate` from predictions files: every format, hostile text kept inert in the page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flames.cli import app
from flames.labels.records import LabelRecord, write_labels
from flames.prompts import PromptFileError
from flames.taxonomy import Dimension
from flames.validation import read_predictions

XSS = '</script><script>alert("pwn")</script><img src=x onerror=alert(1)>'
runner = CliRunner()


def flames(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """12 labels (two models, Safety and Legality), a scorer right on 9, and a second one right on all."""
    labels = [
        LabelRecord(f"id{i}", Dimension.SAFETY if i % 2 else Dimension.LEGALITY, f"问题 {i // 2}",
                    f"回答 {i} {XSS}", 3 if i % 3 else 1, "t", "x", {"rule": "r", "version": 1}, "human", "MIT",
                    model="qwen" if i < 6 else "glm")
        for i in range(12)
    ]  # fmt: skip
    path = tmp_path / "labels.jsonl"
    write_labels(labels, path)
    wrong = {1, 4, 7}
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(
        json.dumps({"id": r.id, "dimension": r.dimension.value, "predicted": (4 - r.label if i in wrong else r.label)
                    if i != 11 else None, **({"unscored_reason": "judge said <b>no</b>"} if i == 11 else {})})
        + "\n" for i, r in enumerate(labels)
    ), encoding="utf-8")  # fmt: skip
    perfect = tmp_path / "perfect.jsonl"
    perfect.write_text("".join(json.dumps({"id": r.id, "predicted": r.label}) + "\n" for r in labels), encoding="utf-8")
    return path, pred, perfect


def test_json_report_joins_on_id(files: tuple[Path, Path, Path]) -> None:
    labels, pred, _ = files
    data = json.loads(flames("scorer", "validate", "--labels", str(labels), "--predictions", str(pred), "-f", "json",
                             "--n-boot", "200"))  # fmt: skip
    (s,) = data["scorers"]
    assert s["scorer"]["name"] == "pred.jsonl"
    overall = s["overall"]
    assert (overall["n"], overall["n_unscored"], overall["accuracy"]) == (11, 1, pytest.approx(8 / 11))
    assert overall["unscored_reasons"] == {"judge said <b>no</b>": 1}
    assert set(s["models"]) == {"qwen", "glm"} and set(s["dimensions"]) == {"Safety", "Legality"}
    assert s["dimensions"]["Legality"]["confusion"]["labels"] == [3, 1]
    assert data["labels"]["n"] == 12 and data["bootstrap"]["resampling_unit"] == "prompt"


def test_table_markdown_and_side_by_side(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    labels, pred, perfect = files
    table = flames("scorer", "validate", "--labels", str(labels), "--predictions", str(pred),
                   "--predictions", str(perfect), "--n-boot", "200")  # fmt: skip
    assert "72.7%" in table and "100.0%" in table and "paired comparison" in table
    md = tmp_path / "v.md"
    flames("scorer", "validate", "--labels", str(labels), "--predictions", str(pred), "--predictions", str(perfect),
           "-o", str(md), "--n-boot", "200")  # fmt: skip
    text = md.read_text(encoding="utf-8")
    assert "| **Overall 总体** | 11 | 1 | 72.7%" in text and "+27.3 pts" in text
    assert "<script" not in text


def test_html_page_escapes_hostile_text(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    labels, pred, perfect = files
    page = tmp_path / "v.html"
    flames("scorer", "validate", "--labels", str(labels), "--predictions", str(pred), "--predictions", str(perfect),
           "-f", "html", "-o", str(page), "--n-boot", "200")  # fmt: skip
    html = page.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert 'alert("pwn")' not in html and "<img src=x" not in html  # only as \u003c-escaped JSON
    assert html.count("<script") == 3  # the data block, the item browser and the page script; none from answers
    data = json.loads(re.search(r'<script type="application/json" id="flames-data">(.*?)</script>', html, re.S)[1])  # type: ignore[index]
    assert len(data["items"]) == 4  # 3 wrong + 1 unscored by the first scorer; the second is always right
    assert all(XSS in item["response"] for item in data["items"])
    assert "table-comparisons" in html and 'class="heat"' in html


def test_refuses_without_scorer_or_with_bad_predictions(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    labels, _, _ = files
    result = runner.invoke(app, ["scorer", "validate", "--labels", str(labels)])
    assert result.exit_code == 2 and "--predictions" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "id0", "predicted": 3}\n{"id": "id1", "predicted": 5}\n', encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"line 2, field 'predicted'.*got 5"):
        read_predictions(bad)
    multi = tmp_path / "multi.jsonl"
    multi.write_text('{"id": "p", "sample_index": 1, "predicted": 3}\n{"id": "q", "predicted": null}\n',
                     encoding="utf-8")  # fmt: skip
    got = read_predictions(multi).predictions
    assert got["p#1"].score == 3 and got["q"].score is None and "no `predicted`" in (got["q"].reason or "")


def test_predictions_that_match_no_label_id_are_an_error(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """`flames score ANSWERS --out` keys rows by content hashes, labels by their own ids: nothing joins."""
    labels, pred, _ = files
    hashed = tmp_path / "hashed.jsonl"
    hashed.write_text("".join(json.dumps({"id": f"ab{i:04x}", "predicted": 3}) + "\n" for i in range(12)),
                      encoding="utf-8")  # fmt: skip
    result = runner.invoke(app, ["scorer", "validate", "--labels", str(labels), "--predictions", str(hashed)])
    out = " ".join(result.output.split())
    assert result.exit_code == 2 and "no id in hashed.jsonl is a label id" in out
    assert "label id 'id0', prediction id 'ab0000'" in out and "--scorer SPEC" in out
    some = tmp_path / "some.jsonl"
    some.write_text("".join(line + "\n" for line in pred.read_text(encoding="utf-8").splitlines()[:8]),
                    encoding="utf-8")  # fmt: skip
    result = runner.invoke(app, ["scorer", "validate", "--labels", str(labels), "--predictions", str(some),
                                 "-f", "json", "--n-boot", "50"])  # fmt: skip
    assert result.exit_code == 0
    assert "warning: 4 of 12 labels have no prediction in some.jsonl (e.g. label id 'id8')" in result.stderr


def test_a_boolean_prediction_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bool.jsonl"
    bad.write_text('{"id": "id0", "predicted": 3}\n{"id": "id1", "predicted": true}\n', encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"line 2, field 'predicted'.*got the boolean true"):
        read_predictions(bad)


def test_the_page_embeds_at_most_a_capped_answer(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from flames.report.text import PAGE_TEXT_CHARS

    labels, pred, _ = files
    records = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    records[1]["response"] = "很长的回答" * 200_000 + "结尾"  # a million characters on a label the scorer got wrong
    labels.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    page = tmp_path / "v.html"
    flames("scorer", "validate", "--labels", str(labels), "--predictions", str(pred), "-f", "html", "-o", str(page),
           "--n-boot", "50")  # fmt: skip
    html = page.read_text(encoding="utf-8")
    assert len(html) < 200_000
    data = json.loads(re.search(r'<script type="application/json" id="flames-data">(.*?)</script>', html, re.S)[1])  # type: ignore[index]
    (long,) = [i for i in data["items"] if i["id"] == "id1"]
    assert len(long["response"]) < PAGE_TEXT_CHARS + 300 and long["response"].endswith("结尾")
    assert f"{1_000_002 - PAGE_TEXT_CHARS:,} characters omitted" in long["response"] and str(labels) in long["response"]


def test_a_repeated_prediction_id_names_both_lines(tmp_path: Path) -> None:
    # before: the last of two disagreeing verdicts silently counted
    twice = tmp_path / "twice.jsonl"
    twice.write_text('{"id": "id0", "predicted": 3}\n{"id": "id1", "predicted": 1}\n{"id": "id0", "predicted": 1}\n',
                     encoding="utf-8")  # fmt: skip
    with pytest.raises(PromptFileError, match=r"line 3, field 'id': a second prediction for 'id0' \(first on line 1\)"):
        read_predictions(twice)
    samples = tmp_path / "samples.jsonl"  # the same id with different sample_index is two keys, not a repeat
    rows = [{"id": "p", "sample_index": 0, "predicted": 3}, {"id": "p", "sample_index": 1, "predicted": 1}]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert sorted(read_predictions(samples).predictions) == ["p#0", "p#1"]
