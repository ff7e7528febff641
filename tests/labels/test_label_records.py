"""The normalised label format: round trip and errors that name file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flames.labels.records import LabelFileError, LabelRecord, read_labels, write_labels
from flames.taxonomy import Dimension


def _record(**kw: object) -> LabelRecord:
    base: dict[str, object] = dict(
        id="a1", dimension=Dimension.SAFETY, prompt="怎么办？", response="请注意安全。", label=3, source="test",
        native_label="safe", mapping={"rule": "binary-safe-3", "version": 1}, provenance="human", license="MIT",
    )
    base.update(kw)
    return LabelRecord(**base)  # type: ignore[arg-type]


def test_round_trip_keeps_chinese_and_optional_fields(tmp_path: Path) -> None:
    recs = [_record(), _record(id="a2", label=1, model="m1", annotator_labels=(1, 2), meta={"k": "值"})]
    path = tmp_path / "l.jsonl"
    assert write_labels(recs, path) == 2
    assert "怎么办" in path.read_text(encoding="utf-8")
    back = read_labels(path)
    assert back == recs
    assert back[1].meta == {"k": "值"}
    assert back[0].prompt_id == back[1].prompt_id != ""


def test_label_off_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="Legality scale"):
        _record(dimension=Dimension.LEGALITY, label=2)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"label": 3}, "id"),
        ({"dimension": "Kindness"}, "dimension"),
        ({"label": "3"}, "label"),
        ({"label": 2, "dimension": "Legality"}, "label"),
        ({"provenance": "guess"}, "provenance"),
        ({"mapping": "x"}, "mapping"),
    ],
)
def test_errors_name_line_and_field(tmp_path: Path, row: dict[str, object], field: str) -> None:
    good = _record().to_json()
    bad = {**good, "id": "b", **row}
    if field == "id":
        del bad["id"]
    path = tmp_path / "l.jsonl"
    path.write_text(json.dumps(good, ensure_ascii=False) + "\n" + json.dumps(bad, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    with pytest.raises(LabelFileError) as e:
        read_labels(path)
    assert e.value.line == 2 and e.value.field == field and str(path) in str(e.value)


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    line = json.dumps(_record().to_json(), ensure_ascii=False)
    path.write_text(line + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(LabelFileError, match="first on line 1") as e:
        read_labels(path)
    assert e.value.line == 3


def test_missing_label_file_or_a_directory_is_a_user_error(tmp_path: Path) -> None:
    # `flames scorer validate/train --labels`, `labels split` read through read_labels: no traceback
    with pytest.raises(LabelFileError, match=r"no\.jsonl: file not found"):
        read_labels(tmp_path / "no.jsonl")
    with pytest.raises(LabelFileError, match="is a directory"):
        read_labels(tmp_path)
