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
from flames.store.holds import Holder, Lease, judgment_key, judgments_of

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
    elsewhere: int = 0
    """Responses left unjudged because another holder claimed them first (`claim`)."""

    @property
    def already(self) -> int:
        """Responses judged before (not pending, not held elsewhere)."""
        return self.total - len(self.pending) - self.elsewhere


def plan(store: Store, run: RunInfo, scorer: Scorer, shard: Shard | None = None) -> ScorePlan:
    """Register the scorer's identity (name + config hash) and find its work: responses never judged, or
    judged unscored with `retry` set, and not held by a live holder (another process, an open provider
    batch: `flames.store.holds`); with `shard`, only the responses to that shard's prompts (`flames.shard`).
    Nothing is loaded yet; `claim` then takes the work for one process."""
    info = store.scorer(scorer.name, scorer.config(), kind=scorer.kind)
    return _unjudged(store, run, info, shard, held=False)


def _unjudged(store: Store, run: RunInfo, info: ScorerInfo, shard: Shard | None, held: bool) -> ScorePlan:
    """Responses the scorer has not judged (or judged with `retry` set), in this shard; those a live holder
    has (`flames.store.holds`) only when `held`."""
    judged = store.judgments(run, info)
    taken = {} if held else store.held(run.id, judgments_of(info.id))
    responses = store.responses(run)
    pending = [
        r
        for r in responses
        if (r.id not in judged or judged[r.id].meta.get("retry"))
        and judgment_key(info.id, r.id) not in taken
        and (shard is None or shard.contains(r.prompt.id))
    ]
    return ScorePlan(info, len(responses), pending)


def claim(store: Store, lease: Lease, run: RunInfo, work: ScorePlan) -> ScorePlan:
    """The part of `work` that `lease` won (`flames.store.holds`), less what got judged meanwhile: the
    responses this process may now pay to judge."""
    keys = [judgment_key(work.scorer.id, r.id) for r in work.pending]
    won = lease.claim(run.id, keys) if keys else set()
    mine = [r for r, key in zip(work.pending, keys, strict=True) if key in won]
    judged = store.judgments(run, work.scorer) if mine else {}
    left = [r for r in mine if r.id not in judged or judged[r.id].meta.get("retry")]
    return ScorePlan(work.scorer, work.total, left, work.elsewhere + len(work.pending) - len(mine))


def held_elsewhere(store: Store, run: RunInfo, info: ScorerInfo, shard: Shard | None = None) -> list[Holder]:
    """Who holds the responses this scorer has still to judge: other processes, open provider batches."""
    keys = [judgment_key(info.id, r.id) for r in _unjudged(store, run, info, shard, held=True).pending]
    return store.holders_of(store.held(run.id, judgments_of(info.id)), keys)


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
    return ScoreSummary(work.scorer, work.total, work.already, scored, unscored)


async def score_run(
    store: Store, run: RunInfo, scorer: Scorer, progress: Progress | None = None
) -> ScoreSummary:
    """Score what `scorer` has not judged yet in `run` (and no other process is judging)."""
    with store.lease() as lease:
        return await execute(store, scorer, claim(store, lease, run, plan(store, run, scorer)), progress)
