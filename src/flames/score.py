"""The scoring engine: a run's unjudged responses → a scorer → one committed judgment per response.

Judgments are stored per scorer identity (name + config hash), so several scorers score one run side by side
and a run is re-scored without regenerating. Each judgment is committed the moment it arrives; re-running
skips what is stored, except judgments a scorer marked `retry` (a judge request that failed in transit),
which are asked again — as generation retries failed requests. Only answers are judged: prompts the provider
blocked or the model left without an answer are never given to a scorer, and neither is an answer whose text
is empty (an imported file may hold one): it is stored unscored with the reason, without asking the scorer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flames.records import Item, Judgment
from flames.scorers.base import Scorer, ScorerError
from flames.shard import Shard
from flames.store import RunInfo, ScorerInfo, Store, StoredResponse

EMPTY_ANSWER = "empty answer: nothing to judge (never shown to a scorer)"


@dataclass(frozen=True)
class ScoreSummary:
    scorer: ScorerInfo
    total: int
    """Responses of the run."""
    already: int
    """Judged before this invocation (resume)."""
    scored: int
    unscored: int
    """Judged now, without a score (reasons are stored with each judgment)."""


Progress = Callable[[Judgment], None]


@dataclass(frozen=True)
class ScorePlan:
    """What one scorer still has to judge in one run."""

    scorer: ScorerInfo
    total: int
    pending: list[StoredResponse]


def plan(store: Store, run: RunInfo, scorer: Scorer, shard: Shard | None = None) -> ScorePlan:
    """Register the scorer's identity (name + config hash) and find its work: responses never judged, or
    judged unscored with `retry` set, and not held by an open provider batch; with `shard`, only the
    responses to that shard's prompts (`flames.shard`). Nothing is loaded yet."""
    info = store.scorer(scorer.name, scorer.config(), kind=scorer.kind)
    judged = store.judgments(run, info)
    responses = store.responses(run)
    held = store.reserved_responses(run.id, info.id)
    pending = [
        r
        for r in responses
        if (r.id not in judged or judged[r.id].meta.get("retry"))
        and r.id not in held
        and (shard is None or shard.contains(r.prompt.id))
    ]
    return ScorePlan(info, len(responses), pending)


def item_of(response: StoredResponse) -> Item:
    return Item(str(response.id), response.prompt.dimension, response.prompt.prompt, response.text)


async def judge_pending(
    store: Store, scorer: Scorer, work: ScorePlan, progress: Progress | None = None
) -> tuple[int, int]:
    """Judge the planned responses with a started scorer, committing each judgment as it arrives; return
    (scored, unscored). An empty answer is judged unscored here, never shown to the scorer. Raises
    ScorerError when the scorer answers for an item it was not given or leaves one without a judgment."""
    scored = unscored = 0
    items = {str(r.id): r for r in work.pending if has_text(r)}
    for r in work.pending:
        if not has_text(r):
            empty = Judgment.unscored(item_of(r), EMPTY_ANSWER)
            store.save_judgment(r.id, work.scorer, empty)
            unscored += 1
            if progress:
                progress(empty)
    if items:
        async for judgment in scorer.score([item_of(r) for r in items.values()]):
            response = items.pop(judgment.key, None)
            if response is None or judgment.dimension != response.prompt.dimension:
                raise ScorerError(
                    f"scorer {scorer.name} returned a judgment for an item it was not given"
                    f" (key {judgment.key!r}); this is a bug in the scorer"
                )
            store.save_judgment(response.id, work.scorer, judgment)
            scored += judgment.score is not None
            unscored += judgment.score is None
            if progress:
                progress(judgment)
    if items:
        raise ScorerError(f"scorer {scorer.name} returned no judgment for {len(items)} item(s); re-run to retry them")
    return scored, unscored


def has_text(response: StoredResponse) -> bool:
    """Whether an answer has anything a scorer could judge."""
    return bool(response.text.strip())


async def execute(store: Store, scorer: Scorer, work: ScorePlan, progress: Progress | None = None) -> ScoreSummary:
    """Judge the planned responses, committing each judgment; the scorer is started only when there is work
    for it (an answer with text)."""
    scored = unscored = 0
    if not any(has_text(r) for r in work.pending):
        scored, unscored = await judge_pending(store, scorer, work, progress)
    else:
        await scorer.start()
        try:
            scored, unscored = await judge_pending(store, scorer, work, progress)
        finally:
            await scorer.close()
    return ScoreSummary(work.scorer, work.total, work.total - len(work.pending), scored, unscored)


async def score_run(
    store: Store, run: RunInfo, scorer: Scorer, progress: Progress | None = None
) -> ScoreSummary:
    """Score what `scorer` has not judged yet in `run`."""
    return await execute(store, scorer, plan(store, run, scorer), progress)
