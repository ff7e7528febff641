"""End to end: `flames scorer train` writes a scorer folder, and `flames score` / `flames run` use it through
`--scorer flames:DIR` — the tfidf preset and a LoRA-tuned tiny decoder."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flames.cli import app
from flames.labels.records import write_labels
from flames.records import Item
from flames.scorers.registry import make_scorer
from flames.store import Store
from flames.taxonomy import Dimension, info

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collect"))  # the collection tests' chat server
from chat_server import ChatServer
from training_support import ALONG, HARMFUL, REFUSAL, synthetic_labels

runner = CliRunner()


def answer(prompt: str) -> tuple[str, int]:
    """The model under test: harmful, refusing or going along, by the prompt; and the label that deserves."""
    kind = sum(map(ord, prompt)) % 3
    return (HARMFUL, REFUSAL, ALONG)[kind][0], kind


def expected(dimension: str, kind: int) -> int:
    return (1, 3, 2 if info(dimension).n_classes == 3 else 3)[kind]


@pytest.fixture(scope="module")
def rows(flames_1k: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in flames_1k.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def label_files(rows: list[dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Labels on all five dimensions (the last 24 prompts of each, three phrasings); dev = model m3's answers."""
    prompts = [r for d in Dimension for r in [r for r in rows if r["dimension"] == d.value][-24:]]
    labels = synthetic_labels(prompts)
    root = tmp_path_factory.mktemp("labels")
    write_labels([r for r in labels if r.model != "m3"], root / "train.jsonl")
    write_labels([r for r in labels if r.model == "m3"], root / "dev.jsonl")
    return root / "train.jsonl", root / "dev.jsonl"


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    with ChatServer(reply=lambda messages: answer(messages[-1]["content"])[0]) as s:
        yield s


@pytest.fixture
def prompts_file(rows: list[dict[str, str]], tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[::90][:12]), encoding="utf-8")
    return path


def answers_file(prompts_file: Path, tmp_path: Path) -> Path:
    rows = [json.loads(line) for line in prompts_file.read_text(encoding="utf-8").splitlines()]
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({**r, "response": answer(r["prompt"])[0]}, ensure_ascii=False) + "\n"
                            for r in rows), encoding="utf-8")  # fmt: skip
    return path


def flames(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def run_scores(db: str, server: ChatServer, prompts: Path, scorer_dir: Path) -> dict[str, int | None]:
    """`flames run` against the chat server with the trained scorer → prompt → stored score."""
    flames("run", "--model", "openai:m", "--prompts", str(prompts), "--db", db, "--base-url", server.base_url,
           "--scorer", f"flames:{scorer_dir}", "--no-progress", "--max-retries", "0")  # fmt: skip
    store = Store(db)
    run = store.get_run("openai-m")
    (scorer,) = store.scorers_for(run)
    judged = store.judgments(run, scorer)
    return {r.prompt.prompt: judged[r.id].score for r in store.responses(run)}


def test_tfidf_scorer_trained_on_the_cli_scores_files_and_runs(
    label_files: tuple[Path, Path], server: ChatServer, prompts_file: Path, tmp_path: Path
) -> None:
    train, dev = label_files
    out = flames("scorer", "train", "--labels", str(train), "--dev", str(dev), "--out", str(tmp_path / "tfidf"),
                 "--no-progress")  # fmt: skip
    assert "heads trained: Fairness, Safety, Morality, Legality, Data protection" in out
    assert "trained tfidf in " in out, "the name once, not 'tfidf (tfidf, tfidf)'"
    assert f"use it: flames score RUN --scorer flames:{tmp_path / 'tfidf'}" in out
    assert "heads trained: Fairness, Safety" in flames("scorer", "info", str(tmp_path / "tfidf"))

    scores = run_scores(f"sqlite:///{tmp_path / 'run.db'}", server, prompts_file, tmp_path / "tfidf")
    rows = [json.loads(line) for line in prompts_file.read_text(encoding="utf-8").splitlines()]
    assert scores == {r["prompt"]: expected(r["dimension"], answer(r["prompt"])[1]) for r in rows}

    scored = tmp_path / "scored.jsonl"
    flames("score", str(answers_file(prompts_file, tmp_path)), "--scorer", f"flames:{tmp_path / 'tfidf'}", "--out",
           str(scored), "--db", f"sqlite:///{tmp_path / 'file.db'}", "--no-progress")  # fmt: skip
    for row in map(json.loads, scored.read_text(encoding="utf-8").splitlines()):
        assert row["predicted"] == expected(row["dimension"], answer(row["prompt"])[1])


def test_lora_decoder_scorer_trained_on_the_cli_scores_files_and_runs(
    label_files: tuple[Path, Path], tiny_decoder: Path, server: ChatServer, prompts_file: Path, tmp_path: Path
) -> None:
    train, _ = label_files
    scorer_dir = tmp_path / "decoder"
    flames("scorer", "train", "--labels", str(train), "--backbone", str(tiny_decoder), "--method", "lora",
           "--max-steps", "2", "--batch-size", "8", "--max-length", "512", "--out", str(scorer_dir),
           "--no-progress")  # fmt: skip
    manifest = json.loads((scorer_dir / "flames_scorer.json").read_text(encoding="utf-8"))
    assert (manifest["method"], manifest["pooling"], manifest["training"]["steps"]) == ("lora", "last", 2)

    rows = [json.loads(line) for line in prompts_file.read_text(encoding="utf-8").splitlines()]
    items = [Item(r["prompt"], info(r["dimension"]).dimension, r["prompt"], answer(r["prompt"])[0]) for r in rows]

    async def direct() -> dict[str, tuple[int | None, tuple[float, ...] | None]]:
        scorer = make_scorer(f"flames:{scorer_dir}")
        await scorer.start()
        try:
            return {j.key: (j.score, j.probs) async for j in scorer.score(items)}
        finally:
            await scorer.close()

    reference = asyncio.run(direct())
    assert all(score is not None for score, _ in reference.values())
    scores = run_scores(f"sqlite:///{tmp_path / 'run.db'}", server, prompts_file, scorer_dir)
    assert scores == {k: score for k, (score, _) in reference.items()}

    scored = tmp_path / "scored.jsonl"
    flames("score", str(answers_file(prompts_file, tmp_path)), "--scorer", f"flames:{scorer_dir}", "--out",
           str(scored), "--db", f"sqlite:///{tmp_path / 'file.db'}", "--no-progress")  # fmt: skip
    for row in map(json.loads, scored.read_text(encoding="utf-8").splitlines()):
        score, probs = reference[row["prompt"]]
        assert row["predicted"] == score and row["probs"] == pytest.approx(probs, abs=1e-6)


def test_tfidf_progress_bar_counts_the_heads_it_fits(label_files: tuple[Path, Path], tmp_path: Path) -> None:
    """The bar ends at 5/5 naming the last head fitted, not at '0/1 epoch 0'."""
    result = CliRunner().invoke(app, ["scorer", "train", "--labels", str(label_files[0]), "--out",
                                      str(tmp_path / "t"), "--progress"], env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert re.search(r"5/5 Data protection head fitted", result.output), result.output
