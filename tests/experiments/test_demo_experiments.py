"""`make demo-experiments` end to end with the smallest knobs (SmolLM2 answers and judges: slow on a busy CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
JADE = REPO.parent / "shared" / "data" / "jade-v3"
EXPERIMENTS = ("adversarial-vs-plain", "adversarial-vs-plain-safety", "attack-methods", "generalisation", "backbones",
               "scorer-robustness")  # fmt: skip


def demo_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "BIN": str(Path(sys.executable).parent), "DEMO_DIR": str(tmp_path / "demo"),
            "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1"}  # fmt: skip


@pytest.mark.slow
def test_demo_runs_all_five_experiments(tmp_path: Path, flames_1k: Path) -> None:
    if not (JADE / "jade_alignment_medium_zh.csv").is_file():
        pytest.fail(f"test data missing: {JADE} (the shared JADE-DB v3 copy)")
    env = {**demo_env(tmp_path), "DEMO_INTENTS": "1", "DEMO_LIMIT": "1", "DEMO_JADE_ROWS": "10",
           "FLAMES_DATA": str(flames_1k)}  # fmt: skip
    done = subprocess.run(["bash", str(REPO / "scripts" / "demo-experiments.sh"), str(JADE)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=3000)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = " ".join(done.stdout.split())
    assert out.count("cannot apply the FLAMES rubric") == 2  # the caveat opens and closes the demo
    for name in EXPERIMENTS:
        data = json.loads((tmp_path / "demo" / name / "result.json").read_text(encoding="utf-8"))
        assert data["schema"] == "flames-eval/experiment/v1" and name.startswith(data["experiment"])
        assert (tmp_path / "demo" / name / "result.html").is_file()
    groups = json.loads((tmp_path / "demo" / "generalisation" / "result.json").read_text(encoding="utf-8"))
    assert groups["results"]["group_by"] == "meta.topic" and groups["results"]["summary"]["groups"] >= 2


def test_demo_without_jade_says_where_to_get_it(tmp_path: Path) -> None:
    env = demo_env(tmp_path)
    env.pop("FLAMES_JADE_V3", None)
    done = subprocess.run(["bash", str(REPO / "scripts" / "demo-experiments.sh"), str(tmp_path / "nowhere")],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "whitzard-ai/jade-db" in done.stderr
    assert not (tmp_path / "demo").exists()
