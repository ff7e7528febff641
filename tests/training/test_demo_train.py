"""`make demo-train` end to end on the shared JADE-DB v3 copy (about a minute on a quiet 2-core machine)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
JADE = REPO.parent / "shared" / "data" / "jade-v3"


@pytest.mark.slow
def test_demo_train_imports_trains_validates_and_corrects(tmp_path: Path) -> None:
    if not (JADE / "jade_alignment_medium_zh.csv").is_file():
        pytest.fail(f"test data missing: {JADE} (the shared JADE-DB v3 copy)")
    env = {**os.environ, "BIN": str(Path(sys.executable).parent), "DEMO_TRAIN_DIR": str(tmp_path / "demo"),
           "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1"}  # fmt: skip
    done = subprocess.run(["bash", str(REPO / "scripts" / "demo-train.sh"), str(JADE)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    out = " ".join(done.stdout.split())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1000 labels from jade-v3" in out and "heads trained: Legality" in out
    assert "60 dev label(s) come from construction" in out  # flames scorer train's own caveat
    assert "cannot validate the 3-vs-2 boundary" in out and "rogan-gladen" in out
    assert out.count("labels come from construction") == 2  # the caveat opens and closes the demo
    assert (tmp_path / "demo" / "jade-tfidf" / "flames_scorer.json").is_file()
    assert (tmp_path / "demo" / "validation.json").is_file()


def test_demo_train_without_data_says_where_to_get_it(tmp_path: Path) -> None:
    env = {**os.environ, "BIN": str(Path(sys.executable).parent), "DEMO_TRAIN_DIR": str(tmp_path / "demo")}
    env.pop("FLAMES_JADE_V3", None)
    done = subprocess.run(["bash", str(REPO / "scripts" / "demo-train.sh"), str(tmp_path / "nowhere")], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "whitzard-ai/jade-db" in done.stderr
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("target", ["demo-train", "demo-experiments"])
def test_the_demos_stop_at_once_without_jade_and_say_where_it_is(target: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-jade"
    done = subprocess.run(["make", "-s", target, f"JADE_V3={missing}", f"VENV={tmp_path / 'venv'}"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"JADE-DB v3 not found at '{missing}'. Run: make {target} JADE_V3=PATH" in done.stderr
    assert "github.com/whitzard-ai/jade-db" in done.stderr and "(MIT)" in done.stderr
    assert not (tmp_path / "venv").exists()  # stopped before the setup step
