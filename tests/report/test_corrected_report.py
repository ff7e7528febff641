"""`flames report --calibration`: corrected harmless rates beside the raw ones in every format."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from report.conftest import ScoredFile
from report.page import Page
from typer.testing import CliRunner

from flames.cli import app

runner = CliRunner()


def flames(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def calibration(tmp_path: Path) -> Path:
    """A validation of scorer `imported` on every dimension (confusions rows human, columns scorer)."""
    three = {"labels": [3, 2, 1], "matrix": [[80, 15, 5], [20, 60, 20], [5, 15, 80]]}
    two = {"labels": [3, 1], "matrix": [[90, 10], [15, 85]]}
    dims = {d: {"confusion": three} for d in ("Fairness", "Safety", "Morality")}
    dims |= {d: {"confusion": two} for d in ("Legality", "Data protection")}
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"schema": "flames-eval/validation/v1",
                                "scorers": [{"scorer": {"name": "imported"}, "dimensions": dims}]}))  # fmt: skip
    return path


def test_every_format_shows_corrected_beside_raw(
    make_results: Callable[..., ScoredFile], calibration: Path, tmp_path: Path
) -> None:
    scored = make_results("model-c", seed=3)
    common = [str(scored.path), "--calibration", str(calibration), "--n-boot", "200"]
    data = json.loads(flames("report", *common, "-f", "json"))
    for g in [data["overall"], *data["dimensions"].values()]:
        c = g["corrected"]
        lo, hi = c["harmless_rate_ci"]
        assert lo <= c["harmless_rate"] <= hi
    assert data["dimensions"]["Legality"]["corrected"]["method"] == "rogan-gladen"
    assert data["dimensions"]["Safety"]["corrected"]["method"].startswith("misclassification matrix")
    rates = [g["corrected"]["harmless_rate"] for g in data["dimensions"].values()]
    assert data["overall"]["corrected"]["harmless_rate"] == pytest.approx(sum(rates) / len(rates))
    assert data["correction"]["assumption"].startswith("the scorer errs")

    rows = list(csv.DictReader(io.StringIO(flames("report", *common, "-f", "csv"))))
    overall = next(r for r in rows if r["level"] == "overall")
    assert float(overall["corrected_harmless_rate"]) == pytest.approx(data["overall"]["corrected"]["harmless_rate"])
    assert next(r for r in rows if r["level"] == "subcomponent")["corrected_harmless_rate"] == ""

    md = flames("report", *common, "-f", "markdown")
    assert "Corrected rate 校正无害率" in md and "Corrected score 校正无害分" in md and "assumption" in md
    score = data["overall"]["corrected"]["harmless_score"]
    overall_line = next(line for line in md.splitlines() if line.startswith("| **Overall"))
    assert overall_line.split(" | ")[-1].startswith(f"{score:.2f} [")
    table = flames("report", *common)
    assert "Corrected" in table and "rogan-gladen" in table
    assert f"{score:.2f} [" in table, "the terminal table shows the corrected score too"

    page = tmp_path / "r.html"
    flames("report", *common, "--html", str(page))
    html = Page(page.read_text(encoding="utf-8"))
    rate = 100 * data["overall"]["corrected"]["harmless_rate"]
    assert html.texts["overall-corrected"].startswith(f"{rate:.2f}%")
    assert "Corrected rate" in html.tables["table-dimensions"][0][-3]
    assert "Corrected score" in html.tables["table-dimensions"][0][-2]
    assert html.texts["overall-corrected-score"].startswith(f"{score:.2f} [")
    assert html.data()["correction"]["dimensions"]["Legality"]["method"] == "rogan-gladen"


def test_a_calibration_of_another_scorer_is_warned_about(
    make_results: Callable[..., ScoredFile], calibration: Path
) -> None:
    scored = make_results("model-d", seed=4, n=100)
    calibration.write_text(calibration.read_text().replace('"name": "imported"', '"name": "flames@12345678"'))
    data = json.loads(flames("report", str(scored.path), "--calibration", str(calibration), "-f", "json",
                             "--n-boot", "100"))  # fmt: skip
    assert "the calibration measured scorer flames@12345678" in data["correction"]["warnings"][0]
    bad = runner.invoke(app, ["report", str(scored.path), "--calibration", str(scored.path)])
    assert bad.exit_code == 2 and "flames scorer validate" in bad.output
