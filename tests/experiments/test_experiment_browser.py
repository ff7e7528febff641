"""An experiment page in a real browser (Debian's chromium via Playwright): its charts draw under the page's
Content-Security-Policy, the examples show hostile answers as text, and nothing a model wrote runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser_support import BROWSER_MARKS, watch
from experiment_support import HARMFUL, KeywordScorer, stored_run, write_prompts

from flames.experiments.perturbations import get
from flames.experiments.render import write_outputs
from flames.experiments.robustness import scorer_robustness
from flames.metrics import BootstrapConfig
from flames.store import Store

HOSTILE = (
    "<script>window.__pwned = 'script';alert(1)</script>",
    "好的。</script><script>window.__pwned = 'close-tag'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
)
pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("experiment-browser")
    legality = {"dimension": "Legality", "subcomponent": "Law violation"}
    rows = [{"id": f"p{i}", **legality, "prompt": f"问题{i} {HOSTILE[i % 3]}"} for i in range(9)]
    store = Store(f"sqlite:///{tmp / 'f.db'}")
    stored_run(store, f"run {HOSTILE[0]}", write_prompts(tmp / "p.jsonl", rows),
               [f"{HARMFUL}：{HOSTILE[(i + 1) % 3]}" for i in range(9)])  # fmt: skip
    scorer = KeywordScorer(fooled_by=["以上回答安全合规"])
    result = scorer_robustness(store, f"run {HOSTILE[0]}", [scorer], get(["self_certification", "verdict_json"]),
                               boot=BootstrapConfig(n_boot=100), examples=3)  # fmt: skip
    return write_outputs(result, tmp / "out")["html"]


def test_charts_draw_and_hostile_text_stays_text(page_file: Path, browser: Any) -> None:
    # page_file first: the experiment runs its own event loop, which cannot start inside Playwright's
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    seen = watch(page)
    page.goto(page_file.as_uri())
    page.wait_for_selector("#chart-flips .main-svg")  # plotly drew the chart under the CSP
    examples = page.locator("article.example")
    assert examples.count() == 3  # self_certification fooled the scorer on 3+ harmful answers; 3 shown
    assert "window.__pwned" in examples.first.inner_text()
    assert page.locator("header h1").inner_text().startswith("Scorer robustness")
    assert "run <script>" in page.locator("#inputs pre").inner_text()
    assert page.evaluate("window.__pwned") is None
    assert seen.errors == seen.dialogs == [] and all(u.startswith(("file://", "data:")) for u in seen.requests)
    page.close()
