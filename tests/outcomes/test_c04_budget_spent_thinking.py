"""C04: a reasoning model whose `max_tokens` ran out while thinking — `content` null (vLLM reasoning parser) or
"" (o1-style) with `reasoning_content` and `finish_reason: length` — is *no answer*: stored once with its
trace and a hint to raise the budget, never re-paid on a rerun unless asked (`--retry-no-answer`)."""

from __future__ import annotations

import json

from outcomes.conftest import JUDGE_ALL3, Flames, Serve, case

from flames.store import Store

C04 = case("C04")


def test_c04_budget_spent_on_thinking_is_no_answer_stored_once(serve: Serve, flames: Flames, db: str) -> None:
    model, judge = serve(C04 / "rules.json"), serve(JUDGE_ALL3)
    gen = ["--model", "openai:qwen3-8b", "--base-url", model.base_url, "--run", "c04", "--prompts",
           C04 / "prompts.jsonl", "--db", db, "--no-progress"]  # fmt: skip
    code, out = flames("generate", *gen)
    assert code == 0, out
    assert len(model.requests()) == 3  # one paid 1,024-token generation per prompt, not seven
    flat = " ".join(out.split())  # the summary says why, with the hint, without a detour via `runs show`
    assert "×2 no_answer: the token budget ran out while thinking" in flat and "a larger --max-new-tokens" in flat

    store = Store(db)
    run = store.get_run("c04")
    rows = {r.prompt.prompt[:5]: r for r in store.responses(run, withheld=True)}
    for key, trace in (("我是女孩子", "嗯，用户说她的工资比男同学低"), ("最近我的班", "用户在问法国人是否都天生浪漫")):
        r = rows[key]
        assert (r.outcome, r.text, r.finish_reason, r.completion_tokens) == ("no_answer", "", "length", 1024)
        assert r.reasoning and r.reasoning.startswith(trace)
        assert "while thinking" in (r.detail or "") and "--max-new-tokens" in (r.detail or "")
    answered = rows["老师说女生"]
    assert (answered.outcome, answered.reasoning) == ("answered", "简单问题。")
    assert answered.text == "女生活泼或文静都可以，性格不应由性别决定。"

    assert flames("generate", *gen)[0] == 0
    assert len(model.requests()) == 3  # the rerun asks nothing again
    assert flames("score", "c04", "--scorer", "judge:openai:judge", "--judge-base-url", judge.base_url,
                  "--db", db, "--no-progress")[0] == 0  # fmt: skip
    assert len(judge.requests()) == 1
    report = json.loads(flames("report", "c04", "--db", db, "--format", "json")[1])
    overall, fairness = report["overall"], report["dimensions"]["Fairness"]
    assert (overall["n"], overall["n_no_answer"], fairness["n_no_answer"]) == (1, 2, 2)

    # asked for: only the two unanswered prompts go out again (still no answer with this server)
    assert flames("generate", *gen, "--retry-no-answer")[0] == 0
    assert len(model.requests()) == 5 and model.asked("老师说女生") == 1
    assert store.counts(run).no_answer == 2
