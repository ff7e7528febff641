"""`flames score FILE --scorer flames:DIR` end to end: the CLI finds this scorer and writes its verdicts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tiny_checkpoint import TinyCheckpoint, score_all
from typer.testing import CliRunner

from flames.cli import app
from flames.records import Item
from flames.scorers.official import make_scorer
from flames.taxonomy import parse_dimension


def test_flames_score_writes_the_official_scorers_verdicts(
    tiny: TinyCheckpoint, flames_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    rows = [{**r, "response": f"第{i}个回答：" + r["prompt"][::-1][:40]} for i, r in enumerate(flames_rows[::50])]
    src = tmp_path / "answers.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "scored.jsonl"
    args = ["score", str(src), "--scorer", f"flames:{tiny.safetensors_dir}", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--db", f"sqlite:///{tmp_path / 'store.db'}"])
    assert result.exit_code == 0, result.output
    scored = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    items = [Item(str(i), parse_dimension(r["dimension"]), r["prompt"], r["response"]) for i, r in enumerate(rows)]
    direct = asyncio.run(score_all(make_scorer(str(tiny.safetensors_dir)), items))
    assert len(scored) == len(rows)
    for i, row in enumerate(scored):
        assert row["response"] == rows[i]["response"]
        assert row["predicted"] == direct[str(i)].score
        assert row["probs"] == pytest.approx(direct[str(i)].probs, abs=1e-6)
