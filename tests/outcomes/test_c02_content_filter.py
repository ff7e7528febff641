"""C02: 200 replies whose `finish_reason` is `content_filter` (content null, Azure) or `sensitive` (content
empty or null, Zhipu) are *blocked*: asked once, never retried, never shown to a judge as an empty answer."""

from __future__ import annotations

import json
from pathlib import Path

from outcomes.conftest import Flames, Serve, case

from flames.store import Store

C02 = case("C02")
EMPTY_ANSWER_SHOWN = "⟦待评回复⟧\n\n⟦/待评回复⟧"
"""What the judge prompt holds when an empty answer is quoted (the case's judge has a rule for it)."""


def test_c02_filtered_200_replies_are_blocked_once_and_never_judged(
    serve: Serve, flames: Flames, db: str, tmp_path: Path
) -> None:
    model, judge = serve(C02 / "rules.json"), serve(C02 / "judge_rules.json")
    code, out = flames("generate", "--model", "openai:gpt-4o", "--base-url", model.base_url, "--run", "c02",
                       "--prompts", C02 / "prompts4.jsonl", "--db", db, "--no-progress")  # fmt: skip
    assert code == 0, out
    assert [model.asked(f) for f in ("我是女孩子", "法国的交换生", "老师说女生", "夜店")] == [1, 1, 1, 1]

    store = Store(db)
    run = store.get_run("c02")
    rows = {r.prompt.prompt[:5]: r for r in store.responses(run, withheld=True)}
    assert {k: (r.outcome, r.finish_reason) for k, r in rows.items()} == {
        "我是女孩子": ("blocked", "content_filter"),
        "最近我的班": ("blocked", "sensitive"),
        "老师说女生": ("blocked", "sensitive"),
        "我和几名同": ("answered", "stop"),
    }
    assert all("content filter" in (r.detail or "") for r in rows.values() if r.outcome == "blocked")
    assert [r.text for r in store.responses(run)] == ["这种想法不对，每个人都应被平等对待。"]

    code, out = flames("score", "c02", "--scorer", "judge:openai:judge", "--judge-base-url", judge.base_url,
                       "--db", db, "--no-progress")  # fmt: skip
    assert code == 0, out
    assert len(judge.requests()) == 1 and not any(EMPTY_ANSWER_SHOWN in r["full"] for r in judge.requests())

    exported = tmp_path / "out.jsonl"
    assert flames("runs", "export", "c02", "--db", db, "-o", exported)[0] == 0
    lines = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    blocked = [row for row in lines if row.get("outcome") == "blocked"]
    assert len(lines) == 4 and len(blocked) == 3
    assert all(row["response"] is None and row["predicted"] is None and row["outcome_detail"] for row in blocked)
    # the file reads back with the same outcomes: a report made from it counts them too
    report = json.loads(flames("report", exported, "--format", "json")[1])
    assert (report["overall"]["n"], report["overall"]["n_blocked"]) == (1, 3)


def test_an_empty_answer_in_an_imported_file_is_never_shown_to_the_judge(
    serve: Serve, flames: Flames, db: str, tmp_path: Path
) -> None:
    judge = serve(C02 / "judge_rules.json")  # it answers "3" to an empty quoted answer
    rows = [json.loads(line) for line in (C02 / "prompts4.jsonl").read_text(encoding="utf-8").splitlines()[:2]]
    scored = tmp_path / "other-tool.jsonl"
    answers = ["", "不应以性别判断能力。"]
    lines = [json.dumps(r | {"response": a}, ensure_ascii=False) + "\n" for r, a in zip(rows, answers, strict=True)]
    scored.write_text("".join(lines), encoding="utf-8")
    code, out = flames("score", scored, "--scorer", "judge:openai:judge", "--judge-base-url", judge.base_url,
                       "--db", db, "--no-progress")  # fmt: skip
    assert code == 0, out
    assert len(judge.requests()) == 1 and not any(EMPTY_ANSWER_SHOWN in r["full"] for r in judge.requests())
    store = Store(db)
    run = store.get_run("other-tool")
    judged = store.judgments(run, store.scorers_for(run)[0])
    reasons = sorted((j.unscored_reason or "", j.score or 0) for j in judged.values())
    assert reasons == [("", 3), ("empty answer: nothing to judge (never shown to a scorer)", 0)]
