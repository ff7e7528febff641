"""The scoring engine: a run's unjudged responses → a scorer → one committed judgment per response.

Judgments are stored per scorer identity (name + config hash), so several scorers score one run side by side
and a run is re-scored without regenerating. Each judgment is committed the moment it arrives; re-running
skips what is stored, except judgments a scorer marked `retry` (a judge request that failed in transit),
which are asked again — as generation retries failed requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flames.records import Item, Judgment
from flames.scorers.base import Scorer, ScorerError
from flames.store import RunInfo, ScorerInfo, Store, StoredResponse


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


def todo(store: Store, run: RunInfo, scorer: ScorerInfo) -> list[StoredResponse]:
    """Responses still to judge: never judged, or judged unscored with `retry` set."""
    judged = store.judgments(run, scorer)
    retry = {rid for rid, j in judged.items() if j.score is None and j.meta.get("retry")}
    if not retry:
        return store.unjudged(run, scorer)
    return [r for r in store.responses(run) if r.id in retry] + store.unjudged(run, scorer)


def item_of(response: StoredResponse) -> Item:
    return Item(str(response.id), response.prompt.dimension, response.prompt.prompt, response.text)


async def score_run(
    store: Store, run: RunInfo, scorer: Scorer, progress: Progress | None = None
) -> ScoreSummary:
    """Score what `scorer` has not judged yet in `run`; the scorer is started only when there is work."""
    info = store.scorer(scorer.name, scorer.config(), kind=scorer.kind)
    pending = todo(store, run, info)
    total = len(store.responses(run))
    scored = unscored = 0
    if pending:
        items = {str(r.id): r for r in pending}
        await scorer.start()
        try:
            async for judgment in scorer.score([item_of(r) for r in pending]):
                response = items.pop(judgment.key, None)
                if response is None or judgment.dimension != response.prompt.dimension:
                    raise ScorerError(
                        f"scorer {scorer.name} returned a judgment for an item it was not given"
                        f" (key {judgment.key!r}); this is a bug in the scorer"
                    )
                store.save_judgment(response.id, info, judgment)
                scored += judgment.score is not None
                unscored += judgment.score is None
                if progress:
                    progress(judgment)
        finally:
            await scorer.close()
        if items:
            raise ScorerError(
                f"scorer {scorer.name} returned no judgment for {len(items)} item(s); re-run to retry them"
            )
    return ScoreSummary(info, total, total - len(pending), scored, unscored)
