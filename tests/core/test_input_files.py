"""The input files people have: JSON arrays and index-keyed objects, .xlsx workbooks, GBK CSV, Chinese names —
read with the same validation, and errors that name the file, the row and the field.
Case C10 (prompt files as Chinese spreadsheet users save them) is tested on its own files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from flames.cli import app
from flames.prompts import PromptFileError, read_prompt_file
from flames.rowfiles import describe, iter_rows
from flames.taxonomy import Dimension

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases"
C10 = CASES / "C10-excel-gbk-csv-xlsx"
ROWS = [
    {"dimension": "Fairness", "subcomponent": "Toxic language", "prompt": "你好", "attack_method": "disguise"},
    {"id": "q2", "dimension": "道德", "subcomponent": "中华传统价值观", "prompt": "中庸之道？"},
]


def _xlsx(path: Path, header: list[str | None], rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "题目"
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.create_sheet("ignored").append(["not", "read"])  # only the first sheet is read
    book.save(path)
    return path


def test_json_array_keyed_object_xlsx_and_jsonl_read_the_same(tmp_path: Path) -> None:
    jsonl = tmp_path / "set.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(ROWS, ensure_ascii=False, indent=4), encoding="utf-8")
    keyed = tmp_path / "keyed.json"
    keyed.write_text(json.dumps({str(i): r for i, r in enumerate(ROWS)}, ensure_ascii=False), encoding="utf-8")
    columns = ["id", "dimension", "subcomponent", "prompt", "attack_method"]
    xlsx = _xlsx(tmp_path / "set.xlsx", [*columns[:-1], " attack_method "],
                 [[r.get(c) for c in columns] for r in ROWS] + [[None] * 5])  # fmt: skip
    sets = [read_prompt_file(p) for p in (jsonl, pretty, keyed, xlsx)]
    for s in sets:
        assert s.prompts == sets[0].prompts
    first, second = sets[0].prompts
    assert first.attack_method == "disguise"
    assert (second.id, second.dimension, second.subcomponent) == ("q2", Dimension.MORALITY, "Chinese values")


@pytest.mark.parametrize(
    ("name", "content", "where", "field"),
    [
        ("array.json", json.dumps([ROWS[0], {**ROWS[0], "dimension": "诚实"}]), "item 2", "dimension"),
        ("array.json", json.dumps([ROWS[0], "x"]), "item 2", None),
        ("array.json", '[{"dimension": "Fairness",\n "prompt": }]', "line 2", None),
        ("keyed.json", json.dumps({"0": ROWS[0], "7": {**ROWS[0], "subcomponent": "违法"}}), "key '7'", "subcomponent"),
    ],
)  # fmt: skip
def test_json_errors_name_file_row_and_field(tmp_path: Path, name: str, content: str, where: str, field: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PromptFileError) as err:
        read_prompt_file(path)
    assert str(err.value).startswith(f"{path}, {where}" + (f", field {field!r}" if field else ""))


def test_xlsx_errors_name_sheet_row_and_field(tmp_path: Path) -> None:
    bad = _xlsx(tmp_path / "bad.xlsx", ["dimension", "subcomponent", "prompt"],
                [["公平", "偏见歧视", "甲"], ["安全", "身体伤害", 42]])  # fmt: skip
    with pytest.raises(PromptFileError, match="expected a string, got int") as err:
        read_prompt_file(bad)
    assert str(err.value).startswith(f"{bad}, sheet '题目', row 3, field 'prompt'")
    dupe = _xlsx(tmp_path / "dupe.xlsx", ["prompt", "dimension", "prompt"], [["a", "公平", "b"]])
    with pytest.raises(PromptFileError, match="column 'prompt' appears twice"):
        read_prompt_file(dupe)
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(PromptFileError, match=r"save the sheet as \.xlsx or CSV UTF-8"):
        read_prompt_file(tmp_path / "old.xls")
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(PromptFileError, match=r"not a readable \.xlsx workbook"):
        read_prompt_file(tmp_path / "broken.xlsx")


def test_case_c10_spreadsheet_files_all_read_alike() -> None:
    """GBK CSV (Excel's "CSV (逗号分隔)"), UTF-8-BOM CSV, Chinese dimension names, and the .xlsx itself."""
    sets = {f: read_prompt_file(C10 / f) for f in ("prompts_utf8bom.csv", "prompts_gbk.csv",
                                                    "prompts_zh_labels.csv", "prompts.xlsx")}  # fmt: skip
    reference = sets["prompts_utf8bom.csv"].prompts
    assert len(reference) == 6 and reference[0].prompt.startswith("我是女孩子")
    for name, s in sets.items():
        assert [(p.id, p.dimension, p.subcomponent, p.prompt) for p in s.prompts] == [
            (p.id, p.dimension, p.subcomponent, p.prompt) for p in reference
        ], name
    runner = CliRunner()
    for name in sets:
        result = runner.invoke(app, ["data", "info", "--prompts", str(C10 / name)])
        assert result.exit_code == 0, result.output
        assert "6 prompts" in result.output and "Fairness 公平" in result.output


def test_tsv_files_and_the_label_options_of_the_one_reader(tmp_path: Path) -> None:
    """`.tsv` prompt files; `encoding`, `sheet` and `keep_empty` (what label files use) on `iter_rows`."""
    columns = ["id", "dimension", "subcomponent", "prompt", "attack_method"]
    tsv = tmp_path / "set.tsv"
    tsv.write_text("\t".join(columns) + "\n" + "".join("\t".join(str(r.get(c, "")) for c in columns) + "\n"
                                                      for r in ROWS), encoding="gb18030")  # fmt: skip
    jsonl = tmp_path / "set.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    assert [(p.prompt, p.attack_method) for p in read_prompt_file(tsv).prompts] == [("你好", "disguise"),
                                                                                  ("中庸之道？", None)]  # fmt: skip
    assert read_prompt_file(tsv).prompts[1] == read_prompt_file(jsonl).prompts[1]
    assert [row for _, row in iter_rows(tsv, encoding="gb18030", keep_empty=True)][1]["attack_method"] == ""
    with pytest.raises(PromptFileError, match=r"set\.tsv, line 3: not valid utf-16 at byte"):
        list(iter_rows(tsv, encoding="utf-16"))
    book = _xlsx(tmp_path / "two.xlsx", columns, [[r.get(c) for c in columns] for r in ROWS])
    assert len(list(iter_rows(book))) == 2 and list(iter_rows(book, sheet="ignored")) == []  # header only
    ((n, row),) = list(iter_rows(_xlsx(tmp_path / "gap.xlsx", ["prompt", "note"], [["问", None]]), keep_empty=True))
    assert row == {"prompt": "问", "note": ""} and describe(n) == "sheet '题目', row 2"
