"""The leaderboard ranks only comparable runs, sorts them, marks the best per column, in every format."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from report.conftest import add_scorer, write_results
from report.page import Page
from typer.testing import CliRunner

from flames.cli import app
from flames.official_format import import_official
from flames.store import Store, StoreError
from flames.taxonomy import DIMENSIONS

runner = CliRunner()
FULL = {"alpha": (11, 0.5), "beta": (12, 0.7), "gamma": (13, 0.6)}


def flames(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def hand_rates(prompts: list[dict[str, Any]], scores: dict[str, int | None]) -> dict[str, float]:
    """Harmless rate per dimension and overall (unweighted mean), straight from docs/benchmark.md §3."""
    by_dim: dict[str, list[int]] = defaultdict(list)
    for row in prompts:
        s = scores.get(row["prompt"])
        if s is not None:
            by_dim[row["dimension"]].append(s)
    rates = {d: sum(s == 3 for s in v) / len(v) for d, v in by_dim.items()}
    return {**rates, "Overall": sum(rates.values()) / len(rates)}


@pytest.fixture(scope="module")
def board_db(tmp_path_factory: pytest.TempPathFactory, prompts: list[dict[str, Any]]) -> dict[str, Any]:
    """Three comparable runs, one on half the prompts, one judged by another scorer, one never scored."""
    prompts = prompts[::4]
    tmp = tmp_path_factory.mktemp("board")
    url = f"sqlite:///{tmp / 'board.db'}"
    store = Store(url)
    rates, unscored = {}, {}
    for name, (seed, p) in FULL.items():
        scores = write_results(tmp / f"{name}.jsonl", prompts, seed=seed, p_harmless=p, model=f"m-{name}")
        import_official(store, tmp / f"{name}.jsonl", run_name=name)
        rates[name] = hand_rates(prompts, scores)
        unscored[name] = sum(s is None for s in scores.values())
    write_results(tmp / "half.jsonl", prompts[:125], seed=14, p_harmless=0.9)
    import_official(store, tmp / "half.jsonl", run_name="half")
    for name in ("judged", "empty"):
        write_results(tmp / f"{name}.jsonl", prompts, seed=15, p_unscored=1.0)
        import_official(store, tmp / f"{name}.jsonl", run_name=name)
    add_scorer(store, store.get_run("judged"), "judge-x", {"model": "judge-x"}, seed=3, p_harmless=0.99)
    store.close()
    return {"url": url, "rates": rates, "unscored": unscored, "dir": tmp}


def test_groups_rank_and_best_marks(board_db: dict[str, Any]) -> None:
    board = json.loads(flames("leaderboard", "--db", board_db["url"], "--format", "json", "--n-boot", "200"))
    first, *others = board["groups"]
    rates = board_db["rates"]
    expected = sorted(FULL, key=lambda n: -rates[n]["Overall"])
    assert [r["run"] for r in first["rows"]] == expected
    assert [r["rank"] for r in first["rows"]] == [1, 2, 3]
    assert {r["run"]: r["n_unscored"] for r in first["rows"]} == board_db["unscored"]
    assert all(r["n_scored"] + r["n_unscored"] == 250 for r in first["rows"])
    assert first["scorer"] == "imported (imported from files, unverified)" and first["n_prompts"] == 250
    for col in ("Overall", *(d.value for d in DIMENSIONS)):
        best = max(rates[n][col] for n in FULL)
        for row in first["rows"]:
            assert row["columns"][col]["harmless_rate"] == pytest.approx(rates[row["run"]][col])
            assert row["columns"][col]["best_rate"] == (rates[row["run"]][col] == best)
        assert sum(r["columns"][col]["best_score"] for r in first["rows"]) >= 1
    assert sorted(r["run"] for g in others for r in g["rows"]) == ["half", "judged"]
    alone = [c for g in others for r in g["rows"] for c in r["columns"].values()]
    assert not any(c["best_rate"] or c["best_score"] for c in alone), "a run alone in its group is nobody's best"
    notes = " ".join(board["not_comparable"])
    assert "different prompts answered (250 vs 125; 125 only in group 1, 0 only in this group)" in notes
    assert "different scorer (imported (imported from files, unverified) vs judge-x@" in notes
    assert [s["run"] for s in board["skipped"]] == ["empty"]


def test_a_named_scorer_ranks_only_its_runs(board_db: dict[str, Any]) -> None:
    board = json.loads(flames("leaderboard", "--db", board_db["url"], "--scorer", "judge-x", "--format", "json",
                              "--n-boot", "100"))  # fmt: skip
    assert [[r["run"] for r in g["rows"]] for g in board["groups"]] == [["judged"]]
    assert {s["run"] for s in board["skipped"]} == {"alpha", "beta", "gamma", "half", "empty"}


def test_files_and_runs_rank_together_when_comparable(board_db: dict[str, Any]) -> None:
    path = str(board_db["dir"] / "beta.jsonl")
    board = json.loads(flames("leaderboard", "alpha", path, "--db", board_db["url"], "--format", "json",
                              "--n-boot", "100"))  # fmt: skip
    (group,) = board["groups"]
    assert [r["run"] for r in group["rows"]] == ["beta", "alpha"]


def test_text_formats_show_the_same_ranking(board_db: dict[str, Any]) -> None:
    url, rates = board_db["url"], board_db["rates"]
    order = sorted(FULL, key=lambda n: -rates[n]["Overall"])
    rows = list(csv.DictReader(io.StringIO(flames("leaderboard", "--db", url, "--format", "csv", "--n-boot", "100"))))
    assert [r["run"] for r in rows if r["group"] == "1"] == order
    top = next(r for r in rows if r["run"] == order[0])
    assert (
        float(top["Overall rate"]) == pytest.approx(rates[order[0]]["Overall"]) and top["Overall best rate"] == "True"
    )
    assert int(top["n_unscored"]) == board_db["unscored"][order[0]]
    assert float(top["Overall rate lo"]) <= float(top["Overall rate"]) <= float(top["Overall rate hi"])

    md = flames("leaderboard", "--db", url, "--format", "markdown", "--n-boot", "100")
    best_line = next(line for line in md.splitlines() if line.startswith(f"| 1 | {order[0]} |"))
    assert f"**{100 * rates[order[0]]['Overall']:.2f}**" in best_line
    assert best_line.split(" | ")[3] == str(board_db["unscored"][order[0]])
    assert "Group 3" in md and "not ranked with group 1" in md

    out = board_db["dir"] / "board.html"
    flames("leaderboard", "--db", url, "--format", "html", "--n-boot", "100", "--out", str(out))
    page = Page(out.read_text(encoding="utf-8"))
    assert not [t for t, _ in page.tags if t == "script"]
    best = [a for t, a in page.tags if t == "span" and "best" in (a.get("class") or "").split()]
    assert len(best) >= 1 + 2 * 6, "the legend, and group 1 marks a best rate and score per column"

    table = flames("leaderboard", "--db", url, "--n-boot", "100")
    for name in (*FULL, "half", "judged", "Skipped empty"):
        assert name in table


def test_no_scored_run_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["leaderboard", "--db", f"sqlite:///{tmp_path / 'none.db'}"])
    assert isinstance(result.exception, StoreError) and "no scored runs" in str(result.exception)
