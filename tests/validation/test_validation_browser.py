"""The validation page in a real browser (Debian's chromium via Playwright): the disagreement browser lists
and filters labels, and nothing a model wrote runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser_support import BROWSER_MARKS, watch
from typer.testing import CliRunner

from flames.cli import app
from flames.labels.records import LabelRecord, write_labels
from flames.taxonomy import Dimension

HOSTILE = (
    "<script>window.__pwned = 'script';alert(1)</script>",
    "好的。</script><script>window.__pwned = 'close-tag'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<svg onload=\"window.__pwned='svg'\"></svg>",
)
pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("validation-browser")
    labels = [
        LabelRecord(f"id{i}", Dimension.SAFETY if i % 2 else Dimension.LEGALITY, f"问题 {i} {HOSTILE[i % 4]}",
                    f"回答 {i} {HOSTILE[(i + 1) % 4]}", 3 if i % 3 else 1, "t", "x", {"rule": "r"}, "human", "MIT",
                    model="qwen" if i < 30 else "glm")
        for i in range(60)
    ]  # fmt: skip
    write_labels(labels, tmp / "labels.jsonl")
    (tmp / "pred.jsonl").write_text("".join(
        json.dumps({"id": r.id, "predicted": (4 - r.label if i % 4 == 0 else r.label) if i % 10 else None})
        + "\n" for i, r in enumerate(labels)
    ), encoding="utf-8")  # fmt: skip
    out = tmp / "validation.html"
    args = ["--labels", str(tmp / "labels.jsonl"), "--predictions", str(tmp / "pred.jsonl"), "-f", "html"]
    result = CliRunner().invoke(app, ["scorer", "validate", *args, "-o", str(out), "--n-boot", "100"])
    assert result.exit_code == 0, result.output
    return out


def test_disagreements_list_filter_and_run_no_injected_script(browser: Any, page_file: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    seen = watch(page, console=())
    page.goto(page_file.as_uri())
    # wrong: every 4th label except the unscored every 10th (i = 4, 8, 12, 16, 24, 28, 32, 36, 44, 48, 52, 56)
    wrong = [i for i in range(60) if i % 4 == 0 and i % 10]
    assert page.locator("#item-count").inner_text().startswith(f"{len(wrong)} labels")
    first = page.locator("#item-list article").first
    assert "window.__pwned" in first.inner_text()  # shown as text
    page.select_option("#f-kind", "unscored")
    assert page.locator("#item-list article").count() == 6
    page.select_option("#f-kind", "")
    page.select_option("#f-model", "glm")
    assert page.locator("#item-list article").count() == len([i for i in wrong if i >= 30]) + 3
    page.fill("#f-search", "id44")
    assert page.locator("#item-list article").count() == 1
    assert page.locator("table.heat").count() == 3  # overall, Legality, Safety
    assert page.evaluate("window.__pwned") is None
    assert seen.errors == seen.dialogs == [] and all(u.startswith("file://") for u in seen.requests)
    page.close()
