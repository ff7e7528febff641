"""The scoring engine: judgments stored per scorer identity, several scorers side by side, re-scoring without
regenerating, resume after an interruption (nothing judged twice), transient failures retried on resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from scoring_support import ChatServer, expected_score, make_judge, rubric_judge

from flames.records import Item, Judgment
from flames.score import plan, score_run
from flames.scorers.base import ScorerError
from flames.store import RunInfo, Store
from flames.taxonomy import info


def expected(store: Store, run: RunInfo) -> dict[int, int]:
    return {r.id: expected_score(r.text, len(info(r.prompt.dimension).scale) == 3) for r in store.responses(run)}


async def test_scores_every_response_and_stores_them_under_the_scorers_identity(
    answered_run: tuple[Store, RunInfo], judge_server: ChatServer
) -> None:
    store, run = answered_run
    summary = await score_run(store, run, make_judge(judge_server))
    assert (summary.total, summary.already, summary.scored, summary.unscored) == (12, 0, 12, 0)
    judged = store.judgments(run, summary.scorer)
    assert {rid: j.score for rid, j in judged.items()} == expected(store, run)
    assert {s.score for s in store.scored_records(run, summary.scorer)} == {1, 2, 3}
    assert summary.scorer.name == "judge:openai:judge" and summary.scorer.config["type"] == "llm-judge"


async def test_several_scorers_side_by_side_and_rescoring_without_regenerating(
    answered_run: tuple[Store, RunInfo], judge_server: ChatServer
) -> None:
    store, run = answered_run
    before = [(r.id, r.text) for r in store.responses(run)]
    greedy = await score_run(store, run, make_judge(judge_server))
    voting = await score_run(store, run, make_judge(judge_server, samples=3))  # another config: another scorer
    assert greedy.scorer.id != voting.scorer.id and greedy.scorer.name == voting.scorer.name
    assert greedy.scorer.config_hash != voting.scorer.config_hash
    assert [s.id for s in store.scorers_for(run)] == [greedy.scorer.id, voting.scorer.id]
    assert voting.scored == 12 and judge_server.requests == 12 + 36
    for sc in (greedy.scorer, voting.scorer):
        assert {rid: j.score for rid, j in store.judgments(run, sc).items()} == expected(store, run)
    assert [(r.id, r.text) for r in store.responses(run)] == before  # responses untouched
    again = await score_run(store, run, make_judge(judge_server))  # same identity: nothing left to do
    assert (again.already, again.scored, again.unscored) == (12, 0, 0) and judge_server.requests == 48


class Dies:
    """A scorer that stops the process (as Ctrl-C would) after `after` judgments of the wrapped scorer."""

    def __init__(self, inner: object, after: int) -> None:
        self.inner, self.after = inner, after
        self.name, self.kind = inner.name, inner.kind  # type: ignore[attr-defined]

    def config(self) -> dict[str, object]:
        return self.inner.config()  # type: ignore[attr-defined,no-any-return]

    async def start(self) -> None:
        await self.inner.start()  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self.inner.close()  # type: ignore[attr-defined]

    async def score(self, items: Sequence[Item]) -> AsyncIterator[Judgment]:
        n = 0
        async for j in self.inner.score(items):  # type: ignore[attr-defined]
            yield j
            n += 1
            if n == self.after:
                raise KeyboardInterrupt


async def test_resume_after_an_interruption_judges_nothing_twice(answered_run: tuple[Store, RunInfo]) -> None:
    store, run = answered_run
    with ChatServer(reply=rubric_judge, latency=0.01) as server:
        with pytest.raises(KeyboardInterrupt):
            await score_run(store, run, Dies(make_judge(server), after=5))  # type: ignore[arg-type]
        work = plan(store, run, make_judge(server))
        assert len(work.pending) == 7  # the five judged before the stop are kept
        await asyncio.sleep(0.1)  # let requests cut off by the stop land before counting
        first = server.requests
        summary = await score_run(store, run, make_judge(server))
        assert summary.already == 5 and summary.scored == 7
        assert server.requests - first == 7  # only the unjudged were sent again
    assert {rid: j.score for rid, j in store.judgments(run, summary.scorer).items()} == expected(store, run)


async def test_transient_judge_failures_are_asked_again_on_resume(answered_run: tuple[Store, RunInfo]) -> None:
    store, run = answered_run
    flaky_once = {"on": True}

    def faults(prompt: str, attempt: int) -> str | None:
        return "500" if flaky_once["on"] and "第一步" in prompt else None

    with ChatServer(reply=rubric_judge, faults=faults) as server:
        first = await score_run(store, run, make_judge(server))
        assert (first.scored, first.unscored) == (8, 4)  # the 4 harmful answers hit the fault
        flaky_once["on"] = False
        second = await score_run(store, run, make_judge(server))
    assert (second.already, second.scored, second.unscored) == (8, 4, 0)
    assert {rid: j.score for rid, j in store.judgments(run, second.scorer).items()} == expected(store, run)


class Stray:
    name, kind = "stray", "model"

    def config(self) -> dict[str, object]:
        return {}

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def score(self, items: Sequence[Item]) -> AsyncIterator[Judgment]:
        yield Judgment("no-such-key", items[0].dimension, 3)


async def test_a_judgment_for_an_unknown_item_is_refused(answered_run: tuple[Store, RunInfo]) -> None:
    store, run = answered_run
    with pytest.raises(ScorerError, match="not given"):
        await score_run(store, run, Stray())
    assert store.judgments(run, store.scorer("stray", {})) == {}
