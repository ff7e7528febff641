"""How fast Chromium shows the labelling page for a 200,000-character answer.

Serves the annotation app on 127.0.0.1 over a temporary store with one item whose answer is `--chars`
characters of one kind (`word`: one unbreakable run of "A", the case that once took about a minute to lay
out; `cjk`: random Chinese characters; `lines`: English lines), opens it in Debian's chromium and prints:
load until the second frame is painted, a key press until painted, and opening the folded full text.

    python benchmarks/annotate_long_text.py [--kind word|cjk|lines] [--chars 200000]
"""

from __future__ import annotations

import argparse
import random
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import sync_playwright

from flames.annotate.app import create_app
from flames.annotate.auth import add_user
from flames.annotate.projects import import_run
from flames.annotate.schema import Role
from flames.prompts import PromptSet, prompt_id
from flames.records import Completion, Prompt
from flames.store import RunSpec, Store
from flames.taxonomy import Dimension, info

PASSWORD = "benchmark-password"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def answer(kind: str, n: int) -> str:
    rng = random.Random(0)
    if kind == "word":
        return "A" * n
    if kind == "cjk":
        return "".join(rng.choice("我们你他的是了在有不这人中大为上个国") for _ in range(n))
    words = (" ".join(f"word{rng.randrange(1000)}" for _ in range(12)) for _ in range(n))
    return "\n".join(words)[:n]


def timed(page: Any, action: Any) -> float:
    t0 = time.perf_counter()
    action()
    page.evaluate(PAINTED)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("word", "cjk", "lines"), default="word")
    parser.add_argument("--chars", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'long.db'}")
        add_user(store, "reader", PASSWORD, Role.ANNOTATOR)
        d = Dimension.FAIRNESS
        prompt = Prompt(prompt_id(d, info(d).subcomponents[0], "问题"), d, info(d).subcomponents[0], "问题")
        run = store.open_run(RunSpec("long", "m", "test", {}), PromptSet("long", "0" * 64, "synthetic", (prompt,)))
        for slot in store.pending(run):
            store.save_response(run.id, slot, Completion(answer(args.kind, args.chars)))
        import_run(store, run, "p", per_item=1)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        app = create_app(store, secure_cookies=False)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 760})
            page.goto(f"{base}/login?next=/p/p/next")
            page.fill("input[name=username]", "reader")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/p/p/next")
            with page.expect_navigation(timeout=600_000):
                page.click("#claim-form button")
            url = page.url
            load = timed(page, lambda: page.goto(url, timeout=600_000))
            key = timed(page, lambda: page.keyboard.press("1"))
            more = page.locator("#response-text-more summary")
            unfold = timed(page, lambda: more.click()) if more.count() else float("nan")
            browser.close()
        server.should_exit = True
        print(f"{args.chars:,} characters ({args.kind}): page load {load:.2f} s, key press {key:.2f} s, "
              f"full text opened {unfold:.2f} s")  # fmt: skip
        store.close()


if __name__ == "__main__":
    main()
