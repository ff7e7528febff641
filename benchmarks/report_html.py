"""HTML report cost on Flames-1k: render time, file size, and (with Debian's chromium) open and filter times.

Builds a store with one run of the 1,000 Flames-1k prompts (synthetic answers) judged by two synthetic
scorers, then times `render_html` (median of --repeat), and, when /usr/bin/chromium exists, the time from
navigation to the last chart drawn and the item browser's response to a dimension filter and a search.
Usage: `python benchmarks/report_html.py [--data PATH/Flames_1k_Chinese.jsonl] [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from flames.metrics import BootstrapConfig, compute_metrics
from flames.prompts import load_prompt_set
from flames.records import Completion, Judgment
from flames.report.html import render_html
from flames.report.source import load_source
from flames.store import RunSpec, Store

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "flames-1k" / "Flames_1k_Chinese.jsonl"
CHROMIUM = Path("/usr/bin/chromium")


def build_store(url: str, data: Path) -> None:
    store = Store(url)
    run = store.open_run(RunSpec("bench", "synthetic", "none", {}), load_prompt_set(data))
    rng = random.Random(0)
    for slot in store.pending(run):
        text = f"回答：{slot.prompt.prompt[:40]}" * rng.randint(1, 8)
        store.save_response(run.id, slot, Completion(text))
    for name in ("judge-a", "judge-b"):
        scorer = store.scorer(name, {"name": name})
        for resp in store.responses(run):
            score = rng.choice((3, 3, 1)) if resp.prompt.dimension.value in ("Legality", "Data protection") else (
                rng.choice((3, 3, 2, 1)))  # fmt: skip
            store.save_judgment(resp.id, scorer, Judgment(str(resp.id), resp.prompt.dimension, score))
    store.close()


_TIMED_CHANGE = """([id, value, event]) => {
  const el = document.getElementById(id);
  const t = performance.now();
  el.value = value;
  el.dispatchEvent(new Event(event));
  void document.body.offsetHeight;  // include the layout of the new cards
  return performance.now() - t;
}"""


def browser_times(html: Path) -> tuple[float, float, float]:
    """Seconds to open until every chart is drawn; ms for the item browser to apply a filter and a search."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        flags = ["--no-sandbox", "--disable-background-networking", "--no-first-run"]
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=flags)
        page = browser.new_page()
        t0 = time.perf_counter()
        page.goto(html.as_uri())
        page.wait_for_selector("#chart-scorers .main-svg")
        opened = time.perf_counter() - t0
        filtered = page.evaluate(_TIMED_CHANGE, ["f-dimension", "Safety", "change"])
        searched = page.evaluate(_TIMED_CHANGE, ["f-search", "朋友", "input"])
        browser.close()
    return opened, filtered, searched


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        build_store(url, args.data)
        source = load_source("bench", url, "judge-a")
        metrics = compute_metrics(source.records, BootstrapConfig())
        times, html = [], ""
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            html = render_html(source, metrics)
            times.append(time.perf_counter() - t0)
        out = Path(tmp) / "report.html"
        out.write_text(html, encoding="utf-8")
        print(f"render_html, 1000 items, 2 scorers: median {statistics.median(times):.2f} s over {args.repeat};"
              f" file {out.stat().st_size / 1e6:.2f} MB")  # fmt: skip
        if CHROMIUM.exists():
            opened, filtered, searched = browser_times(out)
            print(f"chromium: open → all charts drawn {opened:.2f} s; dimension filter {filtered:.0f} ms;"
                  f" search {searched:.0f} ms")  # fmt: skip
        else:
            print("chromium: /usr/bin/chromium not installed, browser timings skipped")


if __name__ == "__main__":
    main()
