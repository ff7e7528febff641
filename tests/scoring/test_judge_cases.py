"""Judges as real servers answer (../shared/cases C05, C06, C08): thinking judges cut off at the token limit,
answers in a dozen formats, a looping answer too long for an 8k judge — through `flames generate` and
`flames score` against the cases' fake OpenAI-compatible server with the bodies real providers sent."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flames.cli import app
from flames.records import Item, Judgment
from flames.scorers import rubric
from flames.scorers.judge import JudgeScorer, JudgeSettings
from flames.store import Store
from flames.taxonomy import Dimension

CASES = Path(__file__).resolve().parents[3] / "shared" / "cases"
StartServer = Callable[[Path], Any]
"""The `fake_openai` fixture (tests/conftest.py): rules file → a running server (`base_url`, `requests()`)."""


def flames(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def case(name: str) -> Path:
    (folder,) = CASES.glob(f"{name}-*")
    return folder


def generate(server: Any, prompts: Path, db: str) -> None:
    flames("generate", "--model", "openai:m", "--base-url", server.base_url, "--run", "r", "--prompts", str(prompts),
           "--db", db, "--no-progress")  # fmt: skip


def score(judge: Any, db: str, *extra: str) -> str:
    return flames("score", "r", "--scorer", "judge:openai:j", "--judge-base-url", judge.base_url, "--db", db,
                  "--no-progress", *extra)  # fmt: skip


def judgments(db: str) -> dict[str, Judgment]:
    """The one judge scorer's judgments, by the response judged."""
    store = Store(db)
    run = store.get_run("r")
    (scorer,) = store.scorers_for(run)
    by_id = store.judgments(run, scorer)
    return {r.text: by_id[r.id] for r in store.responses(run)}


def of(got: dict[str, Judgment], start: str) -> Judgment:
    (j,) = [j for text, j in got.items() if text.startswith(start)]
    return j


# -- C05: a thinking judge with the default --judge-max-new-tokens ------------------------------------------


def test_c05_a_thinking_judge_is_read_only_outside_its_trace(fake_openai: StartServer, tmp_path: Path) -> None:
    folder, db = case("C05"), f"sqlite:///{tmp_path / 'c05.db'}"
    generate(fake_openai(folder / "gen_rules.json"), folder / "prompts.jsonl", db)
    judge = fake_openai(folder / "judge_rules.json")  # the retry's reminder matches the case's catch-all rule
    score(judge, db)
    got = judgments(db)
    cut_thought, null_content, closed = of(got, "工资差异"), of(got, "“所有法国人"), of(got, "女生活泼")
    # the trace cut off at "也许分数为2更合适？" is never read as 2: asked again, the judge's next verdict counts
    assert cut_thought.score == 3 and cut_thought.meta["retried"] == 1
    assert null_content.score == 3 and null_content.meta["retried"] == 1  # content null: not resent 7 times
    assert closed.score == 3 and closed.meta["retried"] == 0
    retries = [r for r in judge.requests() if r["n_msgs"] == 4]
    assert len(judge.requests()) == 5 and len(retries) == 2
    assert all("被截断" in r["last"] for r in retries)  # the reminder says what went wrong


def test_c05_a_judge_cut_off_twice_is_unscored_naming_the_token_option(
    fake_openai: StartServer, tmp_path: Path
) -> None:
    folder, db = case("C05"), f"sqlite:///{tmp_path / 'c05.db'}"
    generate(fake_openai(folder / "gen_rules.json"), folder / "prompts.jsonl", db)
    rules = json.loads((folder / "judge_rules.json").read_text(encoding="utf-8"))
    still_thinking = {**rules[0], "match": "被截断"}  # the retry runs out of tokens again
    (tmp_path / "judge.json").write_text(json.dumps([still_thinking, *rules], ensure_ascii=False), encoding="utf-8")
    judge = fake_openai(tmp_path / "judge.json")
    out = score(judge, db)
    assert "1 scored, 2 unscored now" in out
    got = judgments(db)
    cut_thought, null_content = of(got, "工资差异"), of(got, "“所有法国人")
    for j in (cut_thought, null_content):
        assert j.score is None and j.unscored_reason is not None and "retry" not in j.meta
        assert "raise --judge-max-new-tokens (now 128" in j.unscored_reason
    assert (cut_thought.unscored_reason or "").startswith(
        "judge answer unreadable after one retry: cut off by the token limit inside its reasoning"
    )
    # the first problem is kept, then the retry's
    assert "before any answer text" in (null_content.unscored_reason or "").split("; on retry:")[0]
    assert len(judge.requests()) == 5
    again = score(judge, db)
    assert "0 scored, 0 unscored now; 3 of 3 responses were judged before" in again
    assert len(judge.requests()) == 5  # final: not asked again on rerun


# -- C06: a dozen answer formats ---------------------------------------------------------------------------


def test_c06_every_format_is_read_or_unscored_with_its_first_problem(
    fake_openai: StartServer, tmp_path: Path
) -> None:
    folder, db = case("C06"), f"sqlite:///{tmp_path / 'c06.db'}"
    generate(fake_openai(folder / "gen_rules.json"), folder / "prompts.jsonl", db)
    judge = fake_openai(folder / "judge_rules.json")
    score(judge, db)
    got = {text[3]: j for text, j in judgments(db).items()}  # "【答复A】…" → "A"
    expected = [line.split("\t") for line in (folder / "expected.txt").read_text(encoding="utf-8").splitlines()]
    assert sorted(got) == [row[0] for row in expected]
    for letter, dimension, answer, outcome in expected:
        j = got[letter]
        assert j.dimension == Dimension(dimension)
        if outcome[0].isdigit():
            assert j.score == int(outcome[0]), letter
            continue
        assert j.score is None or (letter == "G" and j.score == 3), letter  # G: "unscored (or 3)"
        if j.score is None:
            first = rubric.parse_verdict(ast.literal_eval(answer), j.dimension).problem
            assert j.unscored_reason == (
                f"judge answer unreadable after one retry: {first}; on retry: no `分数：N` line in the judge's"
                " answer ('好的，我明白了。')"
            ), letter
    assert "'Rating: [[3]]'" in (got["A"].unscored_reason or "")
    assert "judge gave 2, not on the Legality scale 3/1" in (got["I"].unscored_reason or "")
    assert len(judge.requests()) == 12 + 6  # one retry per unscored item, never more


# -- C08: a looping 39k-character answer and an 8k-context judge --------------------------------------------


def test_c08_a_looping_answer_is_cut_to_fit_and_a_context_rejection_is_final(
    fake_openai: StartServer, tmp_path: Path
) -> None:
    folder, db = case("C08"), f"sqlite:///{tmp_path / 'c08.db'}"
    subprocess.run([sys.executable, str(folder / "make_gen_rules.py"), str(tmp_path / "gen.json")], check=True)
    generate(fake_openai(tmp_path / "gen.json"), folder / "prompts.jsonl", db)
    judge = fake_openai(folder / "judge_rules.json")  # answers 400 "maximum context length" to bodies ≥ 30,000 bytes

    out = score(judge, db)  # default budget: an 8k-context judge
    assert "2 scored, 0 unscored now" in out and "1 response(s) cut in the middle" in out
    store = Store(db)
    run = store.get_run("r")
    (scorer,) = store.scorers_for(run)
    assert scorer.config["max_input_tokens"] == 8192 - 128
    looping = next(r for r in store.responses(run) if len(r.text) > 30_000)
    cut = store.judgments(run, scorer)[looping.id].meta["response_cut"]
    assert cut["chars"] == len(looping.text) and 6_000 < cut["kept_chars"] < 8_064 - 500
    assert all(r["req_chars"] < 30_000 and r["status"] == 200 for r in judge.requests())

    item = Item("k", Dimension.FAIRNESS, looping.prompt.prompt, looping.text)
    messages, kept = JudgeScorer("openai:j", backend=None).fit(item, rubric.messages)  # type: ignore[arg-type]
    assert kept == cut["kept_chars"]  # what the judgment records is what was sent
    sent = messages[1]["content"]
    quoted = sent.split(f"{rubric.OPEN}{rubric.RESPONSE_TAG}{rubric.CLOSE}\n")[1].split(f"\n{rubric.OPEN}/")[0]
    omitted = len(looping.text) - cut["kept_chars"]
    head, tail = quoted.split(rubric.CUT_MARKER.format(omitted=omitted))
    assert looping.text.startswith(head) and looping.text.endswith(tail) and abs(len(head) - len(tail)) <= 1

    n = len(judge.requests())
    rejected = score(judge, db, "--judge-max-input-tokens", "40000")  # a budget the server does not have
    assert "1 scored, 1 unscored now" in rejected and "failed in transit" not in rejected
    (big,) = [s for s in store.scorers_for(run) if s.config["max_input_tokens"] == 40000]
    j = store.judgments(run, big)[looping.id]
    assert j.score is None and "retry" not in j.meta and "response_cut" not in j.meta
    assert (j.unscored_reason or "").startswith("answer too long for this judge")
    assert "maximum context length is 8192 tokens" in (j.unscored_reason or "")
    assert len(judge.requests()) == n + 2
    again = score(judge, db, "--judge-max-input-tokens", "40000")
    assert "0 scored, 0 unscored now; 2 of 2 responses were judged before" in again
    assert len(judge.requests()) == n + 2  # final for that item: never resent


@pytest.mark.parametrize("budget", [None, 20_000])
def test_the_input_budget_is_part_of_the_judges_identity(budget: int | None) -> None:
    settings = JudgeSettings(max_new_tokens=1024, max_input_tokens=budget)
    config = JudgeScorer("openai:j", backend=None, settings=settings).config()  # type: ignore[arg-type]
    assert config["max_input_tokens"] == (budget or 8192 - 1024)


# -- C01/C02 bodies sent to a judge: its provider refuses to read some answers -------------------------------


def test_a_judge_request_its_provider_refuses_is_final_and_names_the_provider(
    fake_openai: StartServer, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'refused.db'}"
    answers = tmp_path / "gen.json"
    answers.write_text(json.dumps([{"match": "*", "content": "我不能提供这方面的帮助。"}], ensure_ascii=False), "utf-8")
    generate(fake_openai(answers), case("C01") / "prompts.jsonl", db)
    # the judge's provider: the three real moderation 400s of C01 on the prompts quoted in a judge request, a
    # 200 whose content filter left no text (C02), a reply whose reasoning spent the budget (C05), else a verdict
    moderation = json.loads((case("C01") / "rules.json").read_text(encoding="utf-8"))[:3]
    content_filter = {"match": "奢侈品店", "status": 200, "content": None, "finish_reason": "content_filter"}
    thinking = {"match": "洁厕灵", "status": 200, "content": None, "reasoning_content": "嗯……",
                "finish_reason": "length"}  # fmt: skip
    verdict = {"match": "*", "status": 200, "content": "分数：3"}
    rules = tmp_path / "judge.json"
    rules.write_text(json.dumps([*moderation, content_filter, thinking, verdict], ensure_ascii=False), "utf-8")
    judge = fake_openai(rules)

    out = score(judge, db)
    assert "8 scored, 4 unscored now" in out
    store = Store(db)
    run = store.get_run("r")
    (scorer,) = store.scorers_for(run)
    got = store.judgments(run, scorer)
    by_prompt = {r.prompt.prompt: got[r.id] for r in store.responses(run)}

    def judged(fragment: str) -> Judgment:
        (j,) = [j for prompt, j in by_prompt.items() if fragment in prompt]
        return j

    refusals = [("化学废水", "DashScope / Qwen", "data_inspection_failed"), ("从事色", "Zhipu / GLM", "1301"),
                ("秀智", "DeepSeek", "invalid_request_error")]  # fmt: skip
    for fragment, provider, code in refusals:
        j = judged(fragment)
        assert j.score is None and "retry" not in j.meta, fragment
        assert (j.unscored_reason or "").startswith(f"the judge's provider refused to judge it: blocked by {provider}")
        assert code in (j.unscored_reason or "") and j.meta["judge_blocked"]["code"] == code
        assert j.meta["judge_blocked"]["http_status"] == 400 and j.meta["retried"] == 0
    filtered = judged("奢侈品店")
    assert (filtered.unscored_reason or "").startswith("the judge's provider refused to judge it: withheld by the")
    assert "'content_filter'" in (filtered.unscored_reason or "")
    # a judge whose reasoning spent the budget is cut off, not refused: asked once more, then named the option
    cut = judged("洁厕灵")
    assert cut.score == 3 and cut.meta["retried"] == 1
    requests = judge.requests()
    for fragment in ("化学废水", "从事色", "秀智", "奢侈品店"):  # each refusal asked once, never a second time
        assert sum(fragment in r["full"] for r in requests) == 1, fragment
    assert len(requests) == 12 + 1

    again = score(judge, db)  # a refusal is a final judgment: a rerun asks nothing
    assert "0 scored, 0 unscored now; 12 of 12 responses were judged before" in again
    assert len(judge.requests()) == 13
