"""Load test of the annotation server: 50 simulated annotators labelling at once for a minute.

Starts `flames annotate serve` in its own process on 127.0.0.1 over a fresh store (SQLite by default, or
`--db URL`), creates a project of synthetic items and 50 annotator accounts, then each simulated
annotator logs in and loops: claim the next item (the POST behind the page's button, then the assignment
page), read it, submit a score from the item's scale.
Afterwards the store is checked against what every client was told: no acknowledged label lost, none
duplicated, no item over its N places, no fully answered item left undecided.

    python benchmarks/annotate_load.py [--annotators 50] [--seconds 60] [--items 3000] [--db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import numpy as np
from sqlalchemy import func, select

from flames.annotate.auth import add_user
from flames.annotate.projects import get_project, import_run
from flames.annotate.schema import ItemRow, LabelRow, Role
from flames.prompts import PromptSet, prompt_id
from flames.records import Completion, Prompt
from flames.store import RunSpec, Store
from flames.taxonomy import DIMENSIONS, info

PASSWORD = "load-test-password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SCORES = re.compile(r'name="score" value="(\d)"')


def build_store(url: str, n_items: int, n_annotators: int) -> None:
    store = Store(url)
    prompts = []
    for i in range(n_items):
        d = DIMENSIONS[i % len(DIMENSIONS)]
        sub = info(d).subcomponents[i % len(info(d).subcomponents)]
        text = f"合成提问 {i}：" + "请帮我想个办法。" * 20
        prompts.append(Prompt(prompt_id(d, sub, text), d, sub, text))
    ps = PromptSet("load", f"{n_items:064d}", "synthetic", tuple(prompts))
    run = store.open_run(RunSpec("load-run", "synthetic", "test", {}), ps)
    for slot in store.pending(run):
        store.save_response(run.id, slot, Completion("合成回答。" * 60))
    import_run(store, run, "load", per_item=2)
    for k in range(n_annotators):
        add_user(store, f"a{k:02d}", PASSWORD, Role.ANNOTATOR)
    store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Annotator:
    def __init__(self, base: str, name: str, rng: random.Random):
        self.base, self.name, self.rng = base, name, rng
        self.page_s: list[float] = []
        self.submit_s: list[float] = []
        self.acknowledged: dict[int, int] = {}
        self.errors: Counter[str] = Counter()

    async def login(self, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{self.base}/login") as r:
            token = CSRF.search(await r.text())
        assert token, "login page without CSRF token"
        data = {"username": self.name, "password": PASSWORD, "csrf_token": token.group(1)}
        async with http.post(f"{self.base}/login", data=data, allow_redirects=False) as r:
            assert r.status == 303, f"login of {self.name} failed: {r.status}"

    async def work(self, deadline: float) -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await self.login(http)
            async with http.get(f"{self.base}/") as r:
                session_token = CSRF.search(await r.text())
            assert session_token, "home page without CSRF token"
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                claim = {"csrf_token": session_token.group(1)}  # the claim is a POST (the page's button)
                async with http.post(f"{self.base}/p/load/next", data=claim, allow_redirects=True) as r:
                    html = await r.text()
                    url = str(r.url)
                self.page_s.append(time.perf_counter() - t0)
                if "/a/" not in url:
                    return  # queue empty
                token, scale = CSRF.search(html), [int(s) for s in SCORES.findall(html)]
                if r.status != 200 or not token or not scale:
                    self.errors[f"page {r.status}"] += 1
                    continue
                score = self.rng.choice(scale)
                t0 = time.perf_counter()
                data = {"action": "label", "score": str(score), "csrf_token": token.group(1)}
                async with http.post(url, data=data, allow_redirects=False) as r:
                    status = r.status
                self.submit_s.append(time.perf_counter() - t0)
                if status == 303:
                    self.acknowledged[int(url.rsplit("/", 1)[1])] = score
                else:
                    self.errors[f"submit {status}"] += 1


def check(url: str, acknowledged: dict[int, int]) -> dict[str, int]:
    """Compare the store with what clients were told."""
    store = Store(url)
    project = get_project(store, "load")
    with store.session() as s:
        labels = dict(s.execute(select(LabelRow.id, LabelRow.score).where(LabelRow.status == "labeled")).all())
        dup_pairs = s.scalar(
            select(func.count()).select_from(
                select(LabelRow.item_id, LabelRow.user_id)
                .group_by(LabelRow.item_id, LabelRow.user_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
        over = s.scalar(
            select(func.count()).select_from(
                select(LabelRow.item_id)
                .where(LabelRow.slot.is_not(None))
                .group_by(LabelRow.item_id)
                .having(func.count() > project.per_item)
                .subquery()
            )
        )
        answered = (
            select(LabelRow.item_id)
            .where(LabelRow.status == "labeled")
            .group_by(LabelRow.item_id)
            .having(func.count() >= project.per_item)
        )
        stuck = s.scalar(select(func.count()).where(ItemRow.status == "labeling", ItemRow.id.in_(answered)))
        decided = s.scalar(select(func.count()).where(ItemRow.status != "labeling"))
    store.close()
    return {
        "acknowledged": len(acknowledged),
        "stored": len(labels),
        "lost": sum(1 for k, v in acknowledged.items() if labels.get(k) != v),
        "unacknowledged_extra": len(set(labels) - set(acknowledged)),
        "duplicate_user_item": int(dup_pairs or 0),
        "items_over_n": int(over or 0),
        "answered_but_undecided": int(stuck or 0),
        "items_decided": int(decided or 0),
    }


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q)) if xs else float("nan")


async def drive(base: str, n: int, seconds: float) -> list[Annotator]:
    rng = random.Random(7)
    annotators = [Annotator(base, f"a{k:02d}", random.Random(rng.random())) for k in range(n)]
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(a.work(deadline) for a in annotators))
    return annotators


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--annotators", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--db", help="store URL (default: a fresh SQLite file in a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'load.db'}"
        t0 = time.perf_counter()
        build_store(url, args.items, args.annotators)
        print(f"store ready: {args.items} items, {args.annotators} annotators ({time.perf_counter() - t0:.1f} s)")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-c", "from flames.cli import main; main()", "annotate", "serve",
             "--db", url, "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            t0 = time.perf_counter()
            annotators = asyncio.run(drive(base, args.annotators, args.seconds))
            wall = time.perf_counter() - t0
        finally:
            server.terminate()
            _, err = server.communicate(timeout=30)
            if b"Traceback" in err:
                print("server errors:\n" + err.decode(errors="replace")[-3000:])
        acknowledged = {k: v for a in annotators for k, v in a.acknowledged.items()}
        result = check(url, acknowledged)
    pages = [x for a in annotators for x in a.page_s]
    submits = [x for a in annotators for x in a.submit_s]
    errors = sum((a.errors for a in annotators), Counter())
    print(f"{args.annotators} annotators for {wall:.0f} s against {url.split(':')[0]}:")
    for what, xs in (("page (next item + render)", pages), ("submit (label POST)", submits)):
        print(f"  {what:26s} n={len(xs)}  p50 {pct(xs, 50):.0f} ms  p99 {pct(xs, 99):.0f} ms")
    print(f"  throughput: {len(submits) / wall:.1f} labels/s; errors: {dict(errors) or 'none'}")
    print("  integrity: " + ", ".join(f"{k}={v}" for k, v in result.items()))
    ok = result["lost"] == 0 and result["unacknowledged_extra"] == 0 and result["duplicate_user_item"] == 0
    ok = ok and result["items_over_n"] == 0 and result["answered_but_undecided"] == 0 and not errors
    print("  PASS: no label lost or duplicated" if ok else "  FAIL: see integrity figures")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
