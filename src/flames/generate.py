"""The collection engine: a run's pending slots → a model backend → one committed row per outcome.

Each outcome is written the moment the backend reports it, so a killed process loses only what was in
flight. Every reply is settled first (`flames.models.outcomes.settle`: reasoning trace apart, answered /
blocked / no answer), whatever the backend. Answered, blocked and no-answer slots are final; a rerun asks
only for the slots without one (and, when the user asks, the blocked or no-answer ones again). The run's
identity (model spec, generation config, samples, prompt set) is checked by `Store.open_run`, which refuses
a changed config under an existing name.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console

from flames import aio
from flames.models.base import (
    BackendError,
    BackendOptions,
    ChatRequest,
    Drainable,
    Failure,
    GenerationConfig,
    ModelBackend,
    chat_messages,
)
from flames.models.outcomes import settle, storable_outcome
from flames.models.registry import load_backend
from flames.progress import RunProgress
from flames.prompts import PromptSet
from flames.records import ANSWERED, BLOCKED, Completion, OutcomeKind
from flames.shard import Shard
from flames.store import RunCounts, RunInfo, RunSpec, Store, StoreError, WorkItem
from flames.store.holds import Holder
from flames.urls import masked_url

if TYPE_CHECKING:
    from flames.executors.ray_executor import RayExecutor

OnOutcome = Callable[[WorkItem, Completion | Failure], None]


@dataclass
class CollectStats:
    ok: int = 0
    """Answered."""
    failed: int = 0
    blocked: int = 0
    no_answer: int = 0
    tokens: int = 0
    interrupted: bool = False
    received: int = 0
    """Outcomes the backend delivered (requests that ended, paid for or not)."""
    unstored: list[str] = dataclasses.field(default_factory=list)
    """Why each outcome that could not be written at all was lost."""


@dataclass(frozen=True)
class GenerateResult:
    run: RunInfo
    requested: int
    """Slots that were pending when this invocation started."""
    stats: CollectStats
    counts: RunCounts
    held: list[Holder] = dataclasses.field(default_factory=list)
    """Who holds the run's slots (of this shard) that are still without a final outcome: other processes,
    open provider batches."""


def slot_requests(slots: Sequence[WorkItem], config: GenerationConfig) -> list[ChatRequest]:
    """One request per slot, keyed by its position. With a seed, sample k uses seed + k, so the samples of
    a prompt differ from each other yet every one of them is reproducible."""
    requests = []
    for i, slot in enumerate(slots):
        cfg = config
        if config.seed is not None and slot.sample_index:
            cfg = dataclasses.replace(config, seed=config.seed + slot.sample_index)
        requests.append(ChatRequest(str(i), chat_messages(slot.prompt.prompt, cfg.system_prompt), cfg))
    return requests


async def collect(
    store: Store,
    run_id: int,
    backend: ModelBackend,
    slots: Sequence[WorkItem],
    config: GenerationConfig,
    on_outcome: OnOutcome | None = None,
    stats: CollectStats | None = None,
) -> CollectStats:
    """Send every slot to a started backend and commit each outcome, made storable and settled, as it arrives.

    An outcome the store refuses is recorded as that slot's failure instead; when even that cannot be
    written (the database is gone), the backend is drained and every outcome still arriving is tried in
    turn, so one bad write never costs the others. Raises StoreError at the end when any outcome could not
    be stored at all.
    """
    stats = stats or CollectStats()
    async for request, outcome in backend.stream(slot_requests(slots, config)):
        slot = slots[int(request.key)]
        stats.received += 1
        outcome = storable_outcome(outcome)
        if isinstance(outcome, Completion):
            outcome = settle(outcome, config.keep_thinking)
        outcome = _store(store, run_id, slot, outcome, stats, backend)
        if isinstance(outcome, Failure):
            stats.failed += 1
        elif outcome.outcome == ANSWERED:
            stats.ok += 1
        elif outcome.outcome == BLOCKED:
            stats.blocked += 1
        else:
            stats.no_answer += 1
        if isinstance(outcome, Completion):
            stats.tokens += outcome.completion_tokens or 0
        if on_outcome is not None:
            on_outcome(slot, outcome)
    if stats.unstored:
        raise StoreError(
            f"{len(stats.unstored)} outcome(s) could not be written to the store ({stats.unstored[0]}); every"
            " other outcome was stored. Fix the store and rerun the same command to ask for the rest."
        )
    return stats


def _store(
    store: Store, run_id: int, slot: WorkItem, outcome: Completion | Failure, stats: CollectStats,
    backend: ModelBackend,
) -> Completion | Failure:  # fmt: skip
    """Commit one outcome; return it, or the failure it was stored as when the store refused it."""
    try:
        if isinstance(outcome, Failure):
            store.save_failure(run_id, slot, outcome.error, outcome.attempts)
        else:
            store.save_response(run_id, slot, outcome, attempts=int(outcome.meta.get("attempts", 1)))
        return outcome
    except Exception as err:  # the database's own errors: one write, not the whole run
        why = f"the store refused this outcome ({type(err).__name__}: {str(err)[:300]})"
    attempts = outcome.attempts if isinstance(outcome, Failure) else int(outcome.meta.get("attempts", 1))
    failure = Failure(why, attempts)
    try:
        store.save_failure(run_id, slot, failure.error, failure.attempts)
    except Exception:  # the store cannot take anything now: send nothing more, keep what is in flight
        stats.unstored.append(why)
        if isinstance(backend, Drainable):
            backend.drain()
    return failure


def stop_on_ctrl_c(backend: ModelBackend, stats: CollectStats, console: Console) -> None:
    """First Ctrl-C: drain the backend, so answers already paid for still arrive and are stored; second
    Ctrl-C (or a backend that cannot drain): cancel at once, losing only what is in flight."""
    task = asyncio.current_task()
    assert task is not None

    def on_sigint() -> None:
        if not stats.interrupted and isinstance(backend, Drainable):
            console.print("[yellow]stopping:[/] finishing the requests in flight; Ctrl-C again to abandon them.")
            backend.drain()
        else:
            task.cancel()
        stats.interrupted = True

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, on_sigint)


def _options_record(options: BackendOptions) -> dict[str, Any]:
    """Backend options for the run record: header values may hold secrets, so only their names are kept, and
    base URLs are recorded with their credentials masked (`flames.urls.masked_url`)."""
    record = dataclasses.asdict(options)
    record["headers"] = sorted(options.headers)
    record["base_url"] = options.base_url and masked_url(options.base_url)
    record["base_urls"] = [masked_url(u) for u in options.base_urls]
    return record


def final_status(counts: RunCounts, interrupted: bool) -> str:
    """The run's status from the store's counts: complete only when every slot of the run holds a final
    outcome (answered, blocked or no answer)."""
    if counts.final == counts.expected:
        return "complete"
    if interrupted:
        return "interrupted"
    return "incomplete" if counts.failed else "partial"


def generate(
    store: Store,
    *,
    run_name: str,
    model_spec: str,
    prompt_set: PromptSet,
    config: GenerationConfig,
    options: BackendOptions | None = None,
    samples: int = 1,
    limit: int | None = None,
    console: Console | None = None,
    progress: bool = True,
    shard: Shard | None = None,
    executor: RayExecutor | None = None,
    retry: tuple[OutcomeKind, ...] = (),
) -> GenerateResult:
    """Create or resume run `run_name` and collect its pending responses (with `shard`, only that shard's;
    with `executor`, on a Ray cluster instead of this process); Ctrl-C stops cleanly. The slots are claimed
    first (`flames.store.holds`): those another live process or an open batch holds are left to it and
    reported in `GenerateResult.held`.

    `retry` names final outcomes to ask again ("blocked", "no_answer"); by default they are never re-asked.
    Raises BackendError (bad spec, model cannot load) or StoreError (config differs from the stored run).
    """
    options = options or BackendOptions()
    if retry and executor is not None:  # its workers check the store before paying, as for any final slot
        raise BackendError("--retry-blocked / --retry-no-answer do not work with --executor ray yet: run the"
                           " retry without --executor")  # fmt: skip
    backend = load_backend(model_spec, options)
    spec = RunSpec(run_name, model_spec, backend.kind, config.as_dict(), samples)
    created = not store.has_run(run_name)
    run = store.open_run(spec, prompt_set)
    slots: list[WorkItem] = []
    stats = CollectStats()
    try:
        with store.lease() as lease:  # released on every exit: normal, Ctrl-C, error
            slots = store.claim_slots(lease, run, store.pending(run, limit, shard, retry), retry)
            if slots and executor is not None:
                _collect_on(executor, store, run, model_spec, config, options, slots, stats, console, progress)
            elif slots:
                aio.run(_collect_run(store, run, backend, slots, config, options, stats, console, progress))
    except (KeyboardInterrupt, asyncio.CancelledError):
        stats.interrupted = True
    except BaseException:
        counts = store.counts(run)
        if created and stats.received == 0 and counts.final + counts.failed == 0:
            store.delete_run(run.name)  # nothing asked (e.g. a wrong model path): the fixed command may reuse the name
        else:
            store.update_run(run.id, status=final_status(counts, interrupted=False))
        raise
    counts = store.counts(run)
    store.update_run(run.id, status=final_status(counts, stats.interrupted))
    open_slots = store.pending(run, limit, shard, retry, held=True) if counts.final < counts.expected else []
    held = store.holders(run, open_slots) if open_slots else []
    return GenerateResult(store.get_run(run.name), len(slots), stats, counts, held)


def _collect_on(
    executor: RayExecutor,
    store: Store,
    run: RunInfo,
    model_spec: str,
    config: GenerationConfig,
    options: BackendOptions,
    slots: Sequence[WorkItem],
    stats: CollectStats,
    console: Console | None,
    show_progress: bool,
) -> None:
    """Collection on a cluster: the executor's workers ask and commit; this process follows their results."""
    store.update_run(run.id, status="running", meta={"options": _options_record(options), "executor": "ray"})
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(RunProgress(len(slots), run.name, console, withheld=True)) if show_progress else None

        def advance(status: str, tokens: int) -> None:
            if bar is not None:
                bar.advance(ok=status != "failed", tokens=tokens, withheld=status in ("blocked", "no_answer"))

        executor.generate(store, run, model_spec, config, options, slots, stats, advance)


async def _collect_run(
    store: Store,
    run: RunInfo,
    backend: ModelBackend,
    slots: Sequence[WorkItem],
    config: GenerationConfig,
    options: BackendOptions,
    stats: CollectStats,
    console: Console | None,
    show_progress: bool,
) -> None:
    await backend.start()
    stop_on_ctrl_c(backend, stats, console or Console(stderr=True))
    try:
        store.update_run(run.id, status="running", meta={"options": _options_record(options)})
        if not show_progress:
            await collect(store, run.id, backend, slots, config, stats=stats)
            return
        with RunProgress(len(slots), run.name, console, withheld=True) as bar:

            def advance(_slot: WorkItem, outcome: Completion | Failure) -> None:
                if isinstance(outcome, Completion):
                    bar.advance(ok=True, tokens=outcome.completion_tokens or 0, withheld=outcome.outcome != ANSWERED)
                else:
                    bar.advance(ok=False)

            await collect(store, run.id, backend, slots, config, advance, stats)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
        described = backend.describe()
        store.update_run(run.id, resolved_model=str(described.get("model")), meta={"backend": described})
        await backend.close()


def default_run_name(model_spec: str) -> str:
    """`openai:qwen2.5:7b` → `openai-qwen2.5-7b`; for paths, the backend and the file or folder name."""
    kind, _, target = model_spec.partition(":")
    last = target.rstrip("/").rsplit("/", 1)[-1] or target
    return re.sub(r"[^\w.-]+", "-", f"{kind}-{last}").strip("-")
