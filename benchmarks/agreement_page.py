"""Time of the annotation agreement page on a large project: cold, warm, after new labels, and 8 at once.

Builds a store (SQLite in a temp dir, or `--db URL`) with one project of `--items` synthetic items, each
labelled by two annotators (about 80% agreement; disagreements wait for adjudication), then times
GET /p/big/agreement through the app in-process: the first view (answered at once, saying the figures are
being computed) and when the figures are ready, a repeat view, a view after a few more decisions, and 8 views
at once after another change.

    python benchmarks/agreement_page.py [--items 100000] [--db URL]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from flames.annotate.app import create_app
from flames.annotate.auth import add_user
from flames.annotate.projects import get_project, import_run
from flames.annotate.schema import ItemRow, ItemStatus, LabelRow, LabelStatus, Provenance, Role
from flames.prompts import PromptSet, prompt_id
from flames.records import Prompt
from flames.store import RunSpec, Store
from flames.store.schema import ResponseRow
from flames.taxonomy import DIMENSIONS, info

PASSWORD = "benchmark-password"


def build(store: Store, n_items: int, rng: random.Random) -> None:
    prompts = []
    for i in range(n_items):
        d = DIMENSIONS[i % len(DIMENSIONS)]
        sub = info(d).subcomponents[i % len(info(d).subcomponents)]
        text = f"合成提问 {i}"
        prompts.append(Prompt(prompt_id(d, sub, text), d, sub, text))
    ps = PromptSet("big", f"{n_items:064d}", "synthetic", tuple(prompts))
    run = store.open_run(RunSpec("big-run", "synthetic", "test", {}), ps)
    slots = store.pending(run)
    with store.session() as s, s.begin():
        s.execute(
            insert(ResponseRow),
            [{"run_id": run.id, "prompt_row_id": sl.prompt_row_id, "sample_index": 0, "status": "ok",
              "text": "合成回答。", "attempts": 1, "meta": {}} for sl in slots],
        )  # fmt: skip
    project = import_run(store, run, "big", per_item=2).project
    a = add_user(store, "a1", PASSWORD, Role.ANNOTATOR).id
    b = add_user(store, "b1", PASSWORD, Role.ANNOTATOR).id
    add_user(store, "judge", PASSWORD, Role.ADJUDICATOR)
    with store.session() as s, s.begin():
        items = s.execute(select(ItemRow.id, ItemRow.position).where(ItemRow.project_id == project.id)).all()
        labels: list[dict[str, object]] = []
        decided: list[tuple[int, int]] = []
        waiting: list[tuple[int, int]] = []
        for item_id, position in items:
            scale = info(DIMENSIONS[position % len(DIMENSIONS)]).scale
            first = rng.choice(scale)
            second = first if rng.random() < 0.8 else rng.choice(scale)
            for slot, (user, score) in enumerate(((a, first), (b, second))):
                labels.append({"item_id": item_id, "user_id": user, "slot": slot, "status": LabelStatus.LABELED.value,
                               "score": score})  # fmt: skip
            (decided if first == second else waiting).append((item_id, first))
        s.execute(insert(LabelRow), labels)
        s.execute(
            update(ItemRow),
            [{"id": i, "status": ItemStatus.DONE.value, "final_score": sc, "provenance": Provenance.UNANIMOUS.value}
             for i, sc in decided]
            + [{"id": i, "status": ItemStatus.ADJUDICATION.value} for i, _ in waiting],
        )  # fmt: skip


def timed(client: TestClient, path: str, figures: bool = True) -> float:
    """Seconds to answer `path`; with `figures`, the page must show the agreement table (not "computing")."""
    t0 = time.perf_counter()
    resp = client.get(path)
    assert resp.status_code == 200 and ("Krippendorff" in resp.text or not figures), resp.status_code
    return time.perf_counter() - t0


def until_figures(client: TestClient, path: str) -> float:
    t0 = time.perf_counter()
    while "Krippendorff" not in client.get(path).text:
        time.sleep(0.5)
    return time.perf_counter() - t0


def touch(store: Store, n: int) -> None:
    """`n` more decisions, as adjudicators would make them (bumping each item's version, as the workflow does)."""
    project = get_project(store, "big")
    with store.session() as s, s.begin():
        ids = s.scalars(
            select(ItemRow.id)
            .where(ItemRow.project_id == project.id, ItemRow.status == ItemStatus.ADJUDICATION.value)
            .limit(n)
        ).all()
        s.execute(
            update(ItemRow)
            .where(ItemRow.id.in_(ids))
            .values(status=ItemStatus.DONE.value, final_score=1, provenance=Provenance.ADJUDICATED.value,
                    version=ItemRow.version + 1)
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.db or f"sqlite:///{Path(tmp) / 'big.db'}")
        t0 = time.perf_counter()
        build(store, args.items, random.Random(0))
        print(f"built {args.items:,} items with 2 labels each in {time.perf_counter() - t0:.1f} s")
        client = TestClient(create_app(store, secure_cookies=False, secret="bench"), follow_redirects=False)
        token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        login = {"username": "judge", "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=login).status_code == 303
        first = timed(client, "/p/big/agreement", figures=False)
        print(f"first view answered:   {first:.2f} s (figures still being computed: the page reloads itself)")
        print(f"figures ready after:   {first + until_figures(client, '/p/big/agreement'):.2f} s")
        print(f"repeat view:           {timed(client, '/p/big/agreement'):.2f} s")
        touch(store, 5)
        print(f"after 5 new decisions: {timed(client, '/p/big/agreement'):.2f} s")
        touch(store, 5)
        times: list[float] = []
        threads = [threading.Thread(target=lambda: times.append(timed(client, "/p/big/agreement"))) for _ in range(8)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"8 views at once after another change: slowest {max(times):.2f} s, all done in "
              f"{time.perf_counter() - t0:.2f} s")  # fmt: skip
        t0 = time.perf_counter()
        while 'id="refreshing"' in client.get("/p/big/agreement").text:
            time.sleep(0.5)
        print(f"figures current again after {time.perf_counter() - t0:.1f} s more (background refresh)")
        store.close()


if __name__ == "__main__":
    main()
