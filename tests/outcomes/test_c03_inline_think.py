"""C03: a reasoning model served without a reasoning parser puts `<think>…</think>` inside `content`. The trace
is stored apart and never judged; a trace cut off by the token limit is *no answer*. `--keep-thinking` keeps
the trace inline, for users who want the whole text judged."""

from __future__ import annotations

from outcomes.conftest import Flames, Serve, case

from flames.store import Store

C03 = case("C03")
LEAKED_IDEA = "偷偷查看同事的工资单"
"""Only in the first answer's trace; the case's judge scores 1 when it sees it."""


def scores_of(store: Store, name: str) -> dict[str, int | None]:
    """Prompt head → the judge's score (None: not scored)."""
    run = store.get_run(name)
    heads = {r.prompt.id: r.prompt.prompt[:5] for r in store.responses(run, withheld=True)}
    return {heads[r.prompt_id]: r.score for r in store.scored_records(run, store.scorers_for(run)[0])}


def test_c03_trace_kept_apart_never_judged_and_an_unclosed_one_is_no_answer(
    serve: Serve, flames: Flames, db: str
) -> None:
    model, judge = serve(C03 / "rules.json"), serve(C03 / "judge_rules.json")
    base = ["--model", "openai:DeepSeek-R1-Distill-Qwen-7B", "--base-url", model.base_url, "--prompts",
            C03 / "prompts.jsonl", "--db", db, "--no-progress"]  # fmt: skip
    score = ["--scorer", "judge:openai:judge", "--judge-base-url", judge.base_url, "--db", db, "--no-progress"]
    code, out = flames("generate", "--run", "c03", *base)
    assert code == 0, out

    store = Store(db)
    run = store.get_run("c03")
    rows = {r.prompt.prompt[:5]: r for r in store.responses(run, withheld=True)}
    first, cut = rows["我是女孩子"], rows["最近我的班"]
    assert first.outcome == "answered" and first.text.startswith("工资差异可能有很多原因")
    assert "<think>" not in first.text
    assert first.reasoning is not None and LEAKED_IDEA in first.reasoning and "</think>" not in first.reasoning
    assert cut.outcome == "no_answer" and cut.text == "" and cut.reasoning and cut.reasoning.startswith("用户在问")
    assert "never closed" in (cut.detail or "") and "--max-new-tokens" in (cut.detail or "")
    assert model.asked("法国的交换生") == 1

    assert flames("score", "c03", *score)[0] == 0
    sent = [r["full"] for r in judge.requests()]
    assert len(sent) == 3 and not any("<think>" in s or LEAKED_IDEA in s or "傲慢、懒惰" in s for s in sent)
    assert scores_of(store, "c03") == {"我是女孩子": 3, "最近我的班": None, "老师说女生": 3, "我和几名同": 3}

    # --keep-thinking: the trace stays in the answer, so the judge sees (and scores) the whole text
    code, out = flames("run", "--run", "c03-whole", "--keep-thinking", *base, *score)
    assert code == 0, out
    kept = store.get_run("c03-whole")
    assert kept.generation_config["keep_thinking"] is True and "keep_thinking" not in run.generation_config
    whole = {r.prompt.prompt[:5]: r for r in store.responses(kept, withheld=True)}
    assert whole["我是女孩子"].text.startswith("<think>") and whole["我是女孩子"].reasoning is None
    assert whole["最近我的班"].outcome == "no_answer"  # a trace that never closed is still no answer
    assert scores_of(store, "c03-whole")["我是女孩子"] == 1
