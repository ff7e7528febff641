"""Following, collecting and cancelling a run's batches (`flames batch status|collect|cancel RUN`).

Collecting a finished batch reads its output and error files and replays them through the live engines
(`replay.ReplayBackend`): answers through `generate.collect`, judge answers through the judge and
`score.execute`, so parsing, outcome classification and store writes are the ones live results get. Import
is exactly once: a slot that already holds an answer (or a response already judged) keeps it, whatever
wrote it first; error-file lines are stored as failures (retried by the next batch or live run); requests
with no line at all (an expired or cancelled batch) simply become pending again when the batch is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flames.batch import BatchError
from flames.batch.client import TERMINAL, BatchClient
from flames.batch.files import read_results
from flames.batch.providers import PROVIDERS
from flames.batch.replay import ReplayBackend
from flames.batch.submit import create_remote, judge_from_record, record_remote
from flames.generate import collect, final_status
from flames.models.base import Failure, GenerationConfig
from flames.records import Completion
from flames.score import ScorePlan, execute
from flames.scorers.judge import JudgeScorer
from flames.store import RunInfo, Store, WorkItem
from flames.store.batches import GENERATE, BatchInfo, BatchItem

STALE = timedelta(minutes=10)
"""A batch stuck before creation for this long is taken to be from a submission that died."""


@dataclass
class Collected:
    """What `collect_run` did, per batch and in total."""

    closed: list[BatchInfo] = field(default_factory=list)
    waiting: list[BatchInfo] = field(default_factory=list)

    def total(self, key: str) -> int:
        return sum(int(b.result.get(key, 0)) for b in self.closed)


def _age(batch: BatchInfo) -> timedelta:
    updated = batch.updated_at if batch.updated_at.tzinfo else batch.updated_at.replace(tzinfo=UTC)
    return datetime.now(UTC) - updated


def _client(batch: BatchInfo) -> BatchClient:
    return BatchClient(batch.base_url, batch.api_key_env)


async def refresh(store: Store, batch: BatchInfo) -> BatchInfo:
    """Ask the provider where an open batch stands and record it (a batch not created yet is returned as is)."""
    if batch.remote_id is None or not batch.is_open:
        return batch
    async with _client(batch) as client:
        return record_remote(store, batch, await client.retrieve(batch.remote_id))


def _abandon(store: Store, batch: BatchInfo, why: str) -> BatchInfo:
    return store.close_batch(batch.id, {"abandoned": why, "unanswered": batch.n_requests})


async def _resume_submission(store: Store, batch: BatchInfo) -> BatchInfo:
    """A batch whose submission died: adopt it if the provider has it, create it from its uploaded file,
    or (never uploaded) give its requests back. Nothing was billed before creation."""
    if batch.input_file_id is None:
        return _abandon(store, batch, "the submission stopped before its file was uploaded")
    async with _client(batch) as client:
        found = await client.find(batch.local_key)
        if found is not None:
            return record_remote(store, batch, found)
        return await create_remote(store, client, batch, PROVIDERS[batch.provider])


def _tokens(results: dict[str, Completion | Failure]) -> tuple[int, int, int]:
    answered = [o for o in results.values() if isinstance(o, Completion)]
    return (
        len(answered),
        sum(o.prompt_tokens or 0 for o in answered),
        sum(o.completion_tokens or 0 for o in answered),
    )


async def _results(batch: BatchInfo) -> dict[str, Completion | Failure]:
    results: dict[str, Completion | Failure] = {}
    async with _client(batch) as client:
        for file_id in (batch.error_file_id, batch.output_file_id):  # an answer wins over an error line
            if file_id:
                results.update(read_results(await client.content(file_id), f"batch {batch.remote_id} file {file_id}"))
    return results


async def _import_answers(
    store: Store, run: RunInfo, items: Sequence[BatchItem], results: dict[str, Completion | Failure]
) -> dict[str, int]:
    prompts = dict(store.prompts(run.prompt_set_id))
    slots = [(it.custom_id, WorkItem(it.prompt_row_id, it.sample_index, prompts[it.prompt_row_id]))
             for it in items if it.prompt_row_id is not None]  # fmt: skip
    stored = store.answered(run.id, [slot for _, slot in slots])
    todo = [(cid, slot) for cid, slot in slots
            if cid in results and (slot.prompt_row_id, slot.sample_index) not in stored]  # fmt: skip
    replay = ReplayBackend({str(i): results[cid] for i, (cid, _) in enumerate(todo)})
    stats = await collect(store, run.id, replay, [slot for _, slot in todo], GenerationConfig(**run.generation_config))
    served = replay.describe().get("model")
    if served and not run.resolved_model:
        store.update_run(run.id, resolved_model=str(served))
    return {
        "answers": stats.ok,
        "blocked": stats.blocked,
        "no_answer": stats.no_answer,
        "failed": stats.failed,
        "already_stored": sum(1 for cid, _ in slots if cid in results) - len(todo),
        "live_requests": 0,
    }


async def _import_judgments(
    store: Store, run: RunInfo, batch: BatchInfo, items: Sequence[BatchItem], results: dict[str, Completion | Failure]
) -> dict[str, int]:
    judge = judge_from_record(str(batch.meta["scorer_spec"]), batch.meta["scorer_options"])
    info = store.scorer(judge.name, judge.config(), kind=judge.kind)
    if info.id != batch.scorer_id:
        raise BatchError(
            f"batch {batch.remote_id}: the judge's settings or rubric differ from when it was submitted (a newer"
            " flames-eval?); its answers cannot be read as that scorer. Cancel it, or collect it with the"
            " version that submitted it."
        )
    by_response: dict[int, list[BatchItem]] = {}
    for it in items:
        if it.response_id is not None:
            by_response.setdefault(it.response_id, []).append(it)
    complete = {rid for rid, its in by_response.items() if all(it.custom_id in results for it in its)}
    judged = store.judgments(run, info)
    settled = {rid for rid, j in judged.items() if not j.meta.get("retry")}
    responses = store.responses(run)
    pending = [r for r in responses if r.id in complete and r.id not in settled]
    outcomes = {str(it.request_key): results[it.custom_id] for r in pending for it in by_response[r.id]}
    replay = ReplayBackend(outcomes, fallback=judge.backend)
    summary = await execute(
        store,
        JudgeScorer(judge.model_spec, replay, judge.settings, judge.window),
        ScorePlan(info, len(responses), pending),
    )
    return {
        "judgments": summary.scored + summary.unscored,
        "scored": summary.scored,
        "failed": sum(isinstance(results[it.custom_id], Failure) for r in pending for it in by_response[r.id]),
        "already_stored": len(complete & settled),
        "live_requests": replay.live_requests,
    }


async def collect_batch(store: Store, run: RunInfo, batch: BatchInfo) -> BatchInfo:
    """Import a finished batch's results exactly once and close it; return the closed record."""
    results = await _results(batch)
    items = store.batch_items(batch.id)
    if batch.kind == GENERATE:
        counts = await _import_answers(store, run, items, results)
    else:
        counts = await _import_judgments(store, run, batch, items, results)
    billed, tokens_in, tokens_out = _tokens(results)
    result = {
        **counts,
        "lines": len(results),
        "billed": billed,
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "unanswered": sum(it.custom_id not in results for it in items),
        "status": batch.status,
    }
    return store.close_batch(batch.id, result)


async def collect_run(store: Store, run: RunInfo, *, wait: bool = False, poll_s: float = 60.0) -> Collected:
    """Collect every finished batch of the run; with `wait`, poll until none is left open."""
    done = Collected()
    while True:
        waiting: list[BatchInfo] = []
        for batch in store.batches(run.id, open_only=True):
            if batch.remote_id is None:
                if _age(batch) < STALE:
                    waiting.append(batch)  # another process may be submitting it right now
                    continue
                batch = await _resume_submission(store, batch)
                if not batch.is_open:
                    done.closed.append(batch)
                    continue
            batch = await refresh(store, batch)
            if batch.status in TERMINAL:
                done.closed.append(await collect_batch(store, store.get_run(run.name), batch))
            else:
                waiting.append(batch)
        done.waiting = waiting
        if any(b.kind == GENERATE for b in done.closed):
            still_out = any(b.kind == GENERATE for b in store.batches(run.id, open_only=True))
            status = "batch" if still_out else final_status(store.counts(run), interrupted=False)
            store.update_run(run.id, status=status)
        if not wait or not waiting:
            return done
        await asyncio.sleep(poll_s)


async def cancel_run(store: Store, run: RunInfo) -> list[BatchInfo]:
    """Ask the provider to cancel every open batch; one not yet created is abandoned (nothing was billed).
    Cancelled batches still hold the answers they finished: `collect_run` imports them."""
    cancelled: list[BatchInfo] = []
    for batch in store.batches(run.id, open_only=True):
        if batch.remote_id is None:
            cancelled.append(_abandon(store, batch, "cancelled before it was created"))
        elif batch.status not in TERMINAL:
            async with _client(batch) as client:
                cancelled.append(record_remote(store, batch, await client.cancel(batch.remote_id)))
    return cancelled


def summary_row(batch: BatchInfo) -> dict[str, Any]:
    """One batch for `flames batch status` (terminal table and JSON): an open batch shows the provider's status,
    a closed one `collected`, or `abandoned` when it never ran (upload or creation failed, cancelled before it
    was created: its requests went back to the pending work; `result.abandoned` says why)."""
    return {
        "batch": batch.remote_id or f"(local {batch.id})",
        "kind": batch.kind,
        "provider": batch.provider,
        "status": batch.status if batch.is_open else "abandoned" if "abandoned" in batch.result else "collected",
        "requests": batch.n_requests,
        "provider_counts": batch.request_counts,
        "result": batch.result,
        "created": batch.created_at.isoformat(timespec="seconds"),
    }
