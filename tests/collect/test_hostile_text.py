"""Text no database takes, from a model: a lone UTF-16 surrogate (a `\\ud800` escape in a reply's JSON) and NUL
(PostgreSQL's text and JSON columns refuse it). Every answer, reasoning trace, judge answer, error body and
reply field is made storable (U+FFFD, counted in meta) on SQLite and on PostgreSQL; paid answers are never
lost nor paid for again; a store that refuses one outcome costs only that outcome."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from collect.chat_server import ChatServer
from collect.conftest import MakePrompts, prompt_text
from typer.testing import CliRunner

from flames.cli import app
from flames.generate import generate
from flames.models.base import BackendOptions, Failure, GenerationConfig
from flames.models.outcomes import storable_outcome
from flames.records import Completion
from flames.storable import REPLACED_KEY, storable, storable_text
from flames.store import Store, StoreError

FFFD = "\ufffd"
StartServer = Callable[[Path], Any]
"""The `fake_openai` fixture (tests/conftest.py): rules file → a running server (`base_url`, `requests()`)."""


def reply(content: str, *, model: str = "m", reasoning: str | None = None) -> str:
    """A chat-completions body as raw JSON text: `content` is written as JSON source, so it may hold escapes
    (`\\ud800`, `\\u0000`) that json.dumps would never produce."""
    message = f'"role": "assistant", "content": "{content}"'
    if reasoning is not None:
        message += f', "reasoning_content": "{reasoning}"'
    return (f'{{"id": "c1", "model": "{model}", "choices": [{{"index": 0, "message": {{{message}}},'
            ' "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}')  # fmt: skip


def test_storable_replaces_nul_and_lone_surrogates_and_keeps_everything_else() -> None:
    assert storable_text("a\x00b\ud800c\udfff") == (f"a{FFFD}b{FFFD}c{FFFD}", 3)
    assert storable_text("😀 中文 \u2028 ok") == ("😀 中文 \u2028 ok", 0)
    value = {"k\x00": ["x\ud83d", 1, None, ("ok",)], "n": 2.5}
    assert storable(value) == ({f"k{FFFD}": [f"x{FFFD}", 1, None, ("ok",)], "n": 2.5}, 2)
    clean = {"a": ["b"]}
    assert storable(clean)[0] is clean
    done = storable_outcome(Completion("x\ud800", reasoning="t\x00", meta={"model": "m\x00"}, detail=None))
    assert (done.text, done.reasoning, done.meta["model"]) == (f"x{FFFD}", f"t{FFFD}", f"m{FFFD}")
    assert done.meta[REPLACED_KEY] == {"text": 1, "reasoning": 1, "meta": 1}
    plain = Completion("fine")
    assert storable_outcome(plain) is plain and REPLACED_KEY not in plain.meta
    assert storable_outcome(Failure("HTTP 400: bad \x00 body", 2)) == Failure(f"HTTP 400: bad {FFFD} body", 2)


def test_replies_with_surrogates_and_nul_are_stored_once_on_sqlite_and_postgresql(
    make_prompts: MakePrompts, store_url: str, fake_openai: StartServer, tmp_path: Path
) -> None:
    ps = make_prompts(5)
    rules = [
        {"match": prompt_text(0), "raw": reply("lone \\ud800 half", reasoning="think \\u0000 hard")},
        {"match": prompt_text(1), "raw": reply("nul \\u0000 char", model="served\\u0000m")},
        {"match": prompt_text(2), "status": 400, "raw": '{"error": {"message": "bad \x00 request \\udfff"}}'},
        {"match": "*", "content": "回答正常"},
    ]
    (tmp_path / "rules.json").write_text(json.dumps(rules), encoding="utf-8")
    server = fake_openai(tmp_path / "rules.json")
    args = ["generate", "--model", "openai:m", "--run", "r", "--db", store_url, "--prompts", str(ps.source),
            "--base-url", server.base_url, "--no-progress", "--max-retries", "0"]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 1, first.output  # only the 400 failed, as any rejected request does
    store = Store(store_url)
    run = store.get_run("r")
    got = {r.prompt.prompt: r for r in store.responses(run)}
    assert len(got) == 4
    lone, nul = got[prompt_text(0)], got[prompt_text(1)]
    assert (lone.text, lone.reasoning) == (f"lone {FFFD} half", f"think {FFFD} hard")
    assert lone.meta[REPLACED_KEY] == {"text": 1, "reasoning": 1}
    assert nul.text == f"nul {FFFD} char" and nul.meta[REPLACED_KEY] == {"text": 1, "meta": 1}
    assert run.resolved_model is not None and "\x00" not in run.resolved_model
    ((_, _, error),) = store.failures(run)
    assert "\x00" not in error and "bad \ufffd request" in error
    assert len(server.requests()) == 5
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and len(server.requests()) == 6  # only the failed request is asked again

    # the judge's answers go through the same boundary
    judge_rules = [{"match": "*", "raw": reply("理由：\\ud800好\\u0000。\\n分数：3")}]
    (tmp_path / "judge.json").write_text(json.dumps(judge_rules), encoding="utf-8")
    judge = fake_openai(tmp_path / "judge.json")
    scored = CliRunner().invoke(app, ["score", "r", "--db", store_url, "--scorer", "judge:openai:j",
                                      "--judge-base-url", judge.base_url, "--no-progress"])  # fmt: skip
    assert scored.exit_code == 0, scored.output
    info = store.resolve_scorer(run, "judge:openai:j")
    judgments = store.judgments(run, info).values()
    assert len(judgments) == 4 and all(j.score == 3 for j in judgments)
    assert all(j.raw == f"理由：{FFFD}好{FFFD}。\n分数：3" and j.meta[REPLACED_KEY] == {"raw": 2} for j in judgments)


class _RefusingStore(Store):
    """A store whose database refuses the answer to one prompt (as it refused lone surrogates), and refuses
    everything once `down` is set."""

    refuse = prompt_text(1)
    down = False

    def save_response(self, run_id: int, slot: Any, completion: Completion, attempts: int = 1) -> None:
        if self.down or slot.prompt.prompt == self.refuse:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        super().save_response(run_id, slot, completion, attempts)

    def save_failure(self, run_id: int, slot: Any, error: str, attempts: int) -> None:
        if self.down:
            raise OSError("disk I/O error")
        super().save_failure(run_id, slot, error, attempts)


def test_an_outcome_the_store_refuses_costs_only_that_outcome(make_prompts: MakePrompts, db_url: str) -> None:
    ps = make_prompts(6)
    store = _RefusingStore(db_url)
    with ChatServer() as server:
        options = BackendOptions(base_url=server.base_url, concurrency=1)
        result = generate(store, run_name="r", model_spec="openai:m", prompt_set=ps, config=GenerationConfig(),
                          options=options, progress=False)  # fmt: skip
        assert result.stats.ok == 5 and result.stats.failed == 1
        ((prompt, _, error),) = store.failures(result.run)
        assert prompt.prompt == prompt_text(1) and "the store refused this outcome (UnicodeEncodeError" in error
        # a store that takes nothing at all: the run row and every outcome already stored survive
        store.refuse, store.down = "", True
        with pytest.raises(StoreError, match=r"1 outcome\(s\) could not be written to the store"):
            generate(store, run_name="r", model_spec="openai:m", prompt_set=ps, config=GenerationConfig(),
                     options=options, progress=False)  # fmt: skip
    assert store.has_run("r") and store.counts(store.get_run("r")).ok == 5
    assert server.requests == 7


def test_a_new_run_whose_first_outcome_is_refused_is_kept(make_prompts: MakePrompts, db_url: str) -> None:
    """Before: the crash on the first answer deleted the run as "nothing collected", answers paid for."""
    ps = make_prompts(2)
    store = _RefusingStore(db_url)
    store.down = True
    with ChatServer() as server, pytest.raises(StoreError):
        generate(store, run_name="r", model_spec="openai:m", prompt_set=ps, config=GenerationConfig(),
                 options=BackendOptions(base_url=server.base_url, concurrency=1), progress=False)  # fmt: skip
    assert store.has_run("r")
