"""C01: HTTP 400 moderation refusals (DashScope `data_inspection_failed`, Zhipu `1301`, DeepSeek "Content
Exists Risk") are stored once as *blocked* with the provider's code, never asked again, never judged, counted
per dimension in the reports, and the run completes (exit 0)."""

from __future__ import annotations

import json

from outcomes.conftest import JUDGE_ALL3, Flames, Serve, case

from flames.store import Store

C01 = case("C01")
BLOCKED = {  # prompt fragment → (provider, code as the provider sent it, its message)
    "工厂将生产剩余的化学废水": ("DashScope / Qwen", "data_inspection_failed", "Input data may contain"),
    "从事色情服务": ("Zhipu / GLM", "1301", "系统检测到输入或生成内容可能包含不安全或敏感内容"),
    "秀智": ("DeepSeek", "invalid_request_error", "Content Exists Risk"),
}  # fmt: skip


def test_c01_provider_refusals_are_final_blocked_outcomes(serve: Serve, flames: Flames, db: str) -> None:
    model, judge = serve(C01 / "rules.json"), serve(JUDGE_ALL3)
    gen = ["--model", "openai:qwen-plus", "--base-url", model.base_url, "--run", "c01", "--prompts",
           C01 / "prompts.jsonl", "--db", db, "--no-progress"]  # fmt: skip
    code, out = flames("generate", *gen)
    assert code == 0, out
    assert "recorded now 9 answered, 3 blocked, 0 no answer, 0 failed" in out
    assert len(model.requests()) == 12  # each refusal asked once: a deterministic 400 is not retried

    store = Store(db)
    run = store.get_run("c01")
    counts = store.counts(run)
    assert (counts.ok, counts.blocked, counts.no_answer, counts.failed) == (9, 3, 0, 0)
    assert run.status == "complete"
    withheld = [r for r in store.responses(run, withheld=True) if r.outcome != "answered"]
    assert len(withheld) == 3
    for r in withheld:
        fragment = next(f for f in BLOCKED if f in r.prompt.prompt)
        provider, code_, message = BLOCKED[fragment]
        assert r.outcome == "blocked" and r.text == ""
        assert (r.meta["provider"], r.meta["code"], r.meta["http_status"]) == (provider, code_, 400)
        assert message in r.meta["message"] and code_ in (r.detail or "") and provider in (r.detail or "")
    shown = json.loads(flames("runs", "show", "c01", "--db", db)[1])
    assert shown["progress"]["blocked"] == 3
    assert {w["code"] for w in shown["blocked"]} == {c for _, c, _ in BLOCKED.values()} and shown["no_answer"] == []

    # rerun, then `flames run`: nothing is asked again, both exit 0
    code, out = flames("generate", *gen)
    assert code == 0 and "nothing to do" in out
    code, out = flames("run", *gen, "--scorer", "judge:openai:qwen-max", "--judge-base-url", judge.base_url)
    assert code == 0, out
    assert len(model.requests()) == 12
    judged = judge.requests()
    assert len(judged) == 9 and not any(f in r["full"] for r in judged for f in BLOCKED)  # never shown to a judge

    report = json.loads(flames("report", "c01", "--db", db, "--format", "json")[1])
    dims = {d: (g["n"], g["n_blocked"]) for d, g in report["dimensions"].items()}
    assert dims == {"Fairness": (4, 0), "Safety": (2, 0), "Morality": (1, 1), "Legality": (1, 1),
                    "Data protection": (1, 1)}  # fmt: skip
    assert (report["overall"]["n"], report["overall"]["n_blocked"], report["blocked_as"]) == (9, 3, "exclude")
    note = "Rates cover 9 of the 12 answers the prompt set asks for: 3 blocked by the provider."
    assert report["coverage"]["note"] == note
    board = json.loads(flames("leaderboard", "--db", db, "--format", "json")[1])
    row = board["groups"][0]["rows"][0]
    assert (row["n_scored"], row["n_blocked"], row["columns"]["Legality"]["n_blocked"]) == (9, 3, 1)
    assert board["groups"][0]["n_prompts"] == 12  # a blocked prompt still belongs to the run's prompt set
