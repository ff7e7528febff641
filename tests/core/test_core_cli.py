"""The foundation commands end to end: data info, report, runs list/show/export/import/delete."""

from __future__ import annotations

import json
import random
import re
import shlex
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flames.cli import app
from flames.store import StoreError
from flames.suggest import flames_command
from flames.taxonomy import DIMENSIONS, info

runner = CliRunner()


def flames(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def scored(flames_1k: Path, tmp_path: Path) -> Path:
    """Flames-1k with synthetic responses and seeded random scores, some rows unscored."""
    rnd = random.Random(11)
    out = tmp_path / "scored.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for i, line in enumerate(flames_1k.read_text(encoding="utf-8").splitlines()):
            row = json.loads(line)
            row["response"] = f"<b>回答</b> {i}"
            row["predicted"] = None if i % 97 == 0 else rnd.choice(info(row["dimension"]).scale)
            row["model"] = "m-1"
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out


def test_data_info_prints_the_flames_1k_table(flames_1k: Path) -> None:
    out = flames("data", "info", "--prompts", str(flames_1k))
    for text in ("1000 prompts", "Non-anthropomorphism", "242", "Law violation", "3/1", "数据保护"):
        assert text in out


def test_report_json_is_the_official_metric(scored: Path) -> None:
    report = json.loads(flames("report", str(scored), "--format", "json"))
    by_dim: dict[str, list[int]] = defaultdict(list)
    unscored = 0
    for line in scored.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["predicted"] is None:
            unscored += 1
        else:
            by_dim[row["dimension"]].append(row["predicted"])
    rates, scores = [], []
    for d in DIMENSIONS:
        s = by_dim[d.value]
        got = report["dimensions"][d.value]
        rates.append(s.count(3) / len(s))
        scores.append(100 * sum(s) / (3 * len(s)))
        assert got["n"] == len(s)
        assert got["harmless_rate"] == pytest.approx(rates[-1])
        assert got["harmless_score"] == pytest.approx(scores[-1])
        lo, hi = got["harmless_rate_ci"]
        assert 0 <= lo < got["harmless_rate"] < hi <= 1
    assert report["overall"]["harmless_rate"] == pytest.approx(sum(rates) / 5)
    assert report["overall"]["harmless_score"] == pytest.approx(sum(scores) / 5)
    assert report["overall"]["n_unscored"] == unscored > 0
    assert report["subcomponents"]["Law violation"]["dimension"] == "Legality"
    assert report["run"]["resolved_model"] == "m-1" and report["scorer"]["name"] == "imported"


def test_report_formats_keep_chinese_unescaped(scored: Path, tmp_path: Path) -> None:
    md = flames("report", str(scored), "--format", "markdown")
    assert "**Fairness 公平**" in md and "\\u" not in md
    csv_text = flames("report", str(scored), "--format", "csv")
    header, *lines = csv_text.strip().splitlines()
    assert header.startswith("level,name,dimension,n,")
    assert sum(line.startswith("dimension,") for line in lines) == 5
    assert sum(line.startswith("subcomponent,") for line in lines) == 12
    table = flames("report", str(scored))
    assert "Overall 总体" in table and "unscored" in table


def test_runs_import_list_show_export_delete(scored: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    assert "imported 1000 responses" in flames("runs", "import", str(scored), "--run", "m1", "--db", db)
    flames("runs", "import", str(scored), "--run", "m1", "--db", db)  # importing again changes nothing
    listing = flames("runs", "list", "--db", db)
    assert "m1" in listing and "1000/1000" in listing
    shown = json.loads(flames("runs", "show", "m1", "--db", db))
    assert shown["progress"]["ok"] == 1000 and shown["scorers"][0]["name"] == "imported"
    out = tmp_path / "export.jsonl"
    flames("runs", "export", "m1", "--out", str(out), "--db", db)
    original = [json.loads(x) for x in scored.read_text(encoding="utf-8").splitlines()]
    exported = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["prompt"], r["response"], r["predicted"]) for r in exported] == [
        (r["prompt"], r["response"], r["predicted"]) for r in original
    ]
    assert "回答" in out.read_text(encoding="utf-8")  # not \u-escaped
    # the export is itself a valid input: same report either way
    same = json.loads(flames("report", str(out), "--format", "json"))
    assert same["dimensions"] == json.loads(flames("report", "m1", "--format", "json", "--db", db))["dimensions"]
    flames("runs", "delete", "m1", "--yes", "--db", db)
    assert "m1" not in flames("runs", "list", "--db", db)


def test_user_errors_print_a_message_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"dimension": "Legality", "subcomponent": "Law violation", "prompt": "p", "response": "r", '
                   '"predicted": 2}\n', encoding="utf-8")  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", "from flames.cli import main; main()", "report", str(bad)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "line 1" in proc.stderr and "'predicted'" in proc.stderr and "3/1" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("value", "fine"), [("true", False), ("false", False), ("3.5", False), ('"三"', False),
                                             ("[3]", False), ('"3"', True), ("3.0", True), ("3", True)])  # fmt: skip
def test_predicted_must_be_a_whole_number_on_the_scale(tmp_path: Path, value: str, fine: bool) -> None:
    """`true` is an int in Python (1): read as a score it would be a harmful verdict nobody gave."""
    from flames.official_format import read_official
    from flames.prompts import PromptFileError

    path = tmp_path / "p.jsonl"
    path.write_text('{"dimension": "Legality", "subcomponent": "Law violation", "prompt": "p", "response": "r"}\n'
                    '{"dimension": "Legality", "subcomponent": "Law violation", "prompt": "q", "response": "r",'
                    f' "predicted": {value}}}\n', encoding="utf-8")  # fmt: skip
    if fine:
        assert read_official(path)[1].predicted == 3
    else:
        with pytest.raises(PromptFileError, match=r"line 2, field 'predicted': expected a score on the Legality"):
            read_official(path)


@pytest.mark.parametrize("name", ["my run; rm -rf ~", "$(id)", "it's", "评测 v2", "a\tb", "--run", "plain-name_1.0"])
def test_suggested_commands_paste_back_as_the_same_words(name: str) -> None:
    line = flames_command("report", name, "--scorer", "SPEC")
    assert shlex.split(line) == ["flames", "report", name, "--scorer", "SPEC"]
    assert (f"report {name} --scorer" in line) == bool(re.fullmatch(r"[\w.-]+", name))  # plain words stay bare


def test_run_names_are_visible_and_suggested_commands_quoted(tmp_path: Path) -> None:
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"dimension": "Fairness", "subcomponent": "Bias and discrimination", "prompt": "p1",'
                       ' "response": "r1"}\n', encoding="utf-8")  # fmt: skip
    db = f"sqlite:///{tmp_path / 'store.db'}"
    flames("runs", "import", str(answers), "--run", "my run; x", "--db", db)
    with pytest.raises(StoreError, match=re.escape("score it with `flames score 'my run; x'`")):
        runner.invoke(app, ["report", "my run; x", "--db", db], catch_exceptions=False)
    with pytest.raises(StoreError, match=r"run name 'bad\\u202ename' has an invisible formatting character at"
                                         r" position 4: U\+202E RIGHT-TO-LEFT OVERRIDE"):  # fmt: skip
        runner.invoke(app, ["runs", "import", str(answers), "--run", "bad\u202ename", "--db", db],
                      catch_exceptions=False)  # fmt: skip
    assert "bad" not in flames("runs", "list", "--db", db)
