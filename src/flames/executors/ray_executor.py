"""`--executor ray`: generation and scoring spread over a Ray cluster (the `[ray]` extra: Ray Core and Ray
Data only).

The pending work becomes a Ray Dataset of slot (or response) ids, mapped with `map_batches` over an actor
pool. Each actor wraps one existing backend or scorer, started once: an API backend keeps `--concurrency`
requests in flight per actor; a local engine or the official scorer gets `num_gpus` (one engine per GPU, or
per `--tensor-parallel` GPUs for vLLM). Ray Data restarts a dead actor and runs its task again (actor pools
default to unlimited restarts and task retries), so just before paying for a batch each actor asks the store
which of it is already done, and it commits every answer or judgment the moment it arrives (the live
engines' `generate.collect` and `score.judge_pending` do the writing): a killed worker costs only the
requests it had in flight, never a second payment for a stored result. The driver claims the work in the
store first (`flames.store.holds`, as any process does), so another process never asks for it meanwhile.
The store is the only output:
PostgreSQL for a cluster of several machines (a SQLite file works for the actors of one machine).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from flames.generate import CollectStats, collect
from flames.models.base import BackendError, BackendOptions, Failure, GenerationConfig
from flames.models.registry import load_backend, parse_spec
from flames.records import Completion, Judgment
from flames.score import ScorePlan, ScoreSummary, judge_pending
from flames.scorers.base import ScorerError
from flames.scorers.registry import JUDGE, OFFICIAL, ScorerOptions, make_scorer
from flames.store import RunInfo, Store, WorkItem
from flames.store.api import STATUS_OF
from flames.taxonomy import Dimension

LOCAL_KINDS = frozenset({"hf", "vllm", "gguf"})
NO_SCORE = -1
"""Score column value of an unscored judgment in the result rows."""


def _ray() -> ModuleType:
    try:
        import ray
        import ray.data  # Ray Data must be installed too
    except ImportError as err:
        raise BackendError("--executor ray needs Ray Core and Ray Data: pip install 'flames-eval[ray]'") from err
    return ray


def _loop() -> asyncio.AbstractEventLoop:
    """A long-lived event loop for an actor (its backend's connections belong to it); uvloop when installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def shared_url(url: str) -> str:
    """The store URL as other processes must see it: a relative SQLite path made absolute."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != prefix + ":memory:" and not Path(url[len(prefix) :]).is_absolute():
        return prefix + str(Path(url[len(prefix) :]).resolve())
    return url


@dataclass(frozen=True)
class Placement:
    """How many actors and what each reserves."""

    workers: int
    num_cpus: float
    num_gpus: float
    batch_size: int


@dataclass(frozen=True)
class RayExecutor:
    address: str | None = None
    """None: the Ray instance this process already started, else a new local one; "auto": the running
    cluster (`ray start --head` / a KubeRay head); or `ray://host:10001`."""
    workers: int | None = None
    """Actors in the pool. Default: one per GPU (per `tensor_parallel` GPUs) for local models and scorers;
    one for API backends, whose actor keeps `concurrency` requests in flight (each added actor adds as many:
    mind the provider's rate limit)."""
    batch_size: int | None = None
    """Rows per `map_batches` call. Default: 4 × concurrency (API) or 4 × batch size (local)."""

    def connect(self) -> dict[str, float]:
        """Join (or start) the cluster; return its resources (`CPU`, `GPU`, ...)."""
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=self.address, configure_logging=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        return {k: float(v) for k, v in ray.cluster_resources().items()}

    def placement(self, local: bool, options: BackendOptions, resources: dict[str, float], gpus: int = 1) -> Placement:
        """Actors for one backend or scorer: local models get `gpus` GPUs each when the cluster has GPUs."""
        if local:
            num_gpus = float(gpus) if resources.get("GPU", 0) >= gpus else 0.0
            default = int(resources.get("GPU", 0) // gpus) if num_gpus else 1
            batch = 4 * options.batch_size
        else:
            num_gpus, default = 0.0, 1
            batch = 4 * options.concurrency * max(1, len(options.base_urls))
        return Placement(max(1, self.workers or default), 1.0, num_gpus, self.batch_size or batch)

    def _map(self, rows: list[dict[str, Any]], worker: type, kwargs: dict[str, Any], place: Placement) -> Any:
        ray = _ray()
        return ray.data.from_items(rows).map_batches(
            worker,
            fn_constructor_kwargs=kwargs,
            batch_size=place.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=place.workers),
            num_cpus=place.num_cpus,
            num_gpus=place.num_gpus,
        )  # Ray Data restarts a dead actor and runs its task again (actor pools: max_restarts=-1 by default)

    def generate(
        self,
        store: Store,
        run: RunInfo,
        model_spec: str,
        config: GenerationConfig,
        options: BackendOptions,
        slots: Sequence[WorkItem],
        stats: CollectStats,
        advance: Callable[[str, int], None] | None = None,
    ) -> None:
        """Collect `slots` on the cluster; `stats` (and `advance(status, tokens)`) follow the results as the
        driver receives them ('ok', 'blocked', 'no_answer', 'failed', 'stored': final before this task ran)."""
        kind, _ = parse_spec(model_spec)
        place = self.placement(kind in LOCAL_KINDS, options, self.connect(), options.tensor_parallel)
        rows = [{"prompt_row_id": s.prompt_row_id, "sample_index": s.sample_index} for s in slots]
        kwargs = {"store_url": shared_url(store.url), "run_name": run.name, "model_spec": model_spec,
                  "config": config, "options": options}  # fmt: skip
        for batch in self._map(rows, GenerateWorker, kwargs, place).iter_batches(batch_size=None):
            for status, tokens in zip(batch["status"], batch["tokens"], strict=True):
                stats.ok += status == "ok"
                stats.failed += status == "failed"
                stats.blocked += status == "blocked"
                stats.no_answer += status == "no_answer"
                stats.tokens += int(tokens)
                if advance is not None:
                    advance(str(status), int(tokens))

    def score(
        self,
        store: Store,
        run: RunInfo,
        spec: str,
        options: ScorerOptions,
        work: ScorePlan,
        progress: Callable[[Judgment], None] | None = None,
    ) -> ScoreSummary:
        """Judge `work.pending` on the cluster with the scorer `spec` names; `progress` sees each judgment
        (score, reason and `retry` only) as the driver receives it."""
        if not work.pending:
            return ScoreSummary(work.scorer, work.total, work.already, 0, 0)
        kind, _, target = spec.partition(":")
        local = kind == OFFICIAL or (kind == JUDGE and parse_spec(target)[0] in LOCAL_KINDS)
        backend = options.judge_backend
        batch_size = options.batch_size or backend.batch_size
        place = self.placement(local, BackendOptions(concurrency=backend.concurrency, base_urls=backend.base_urls,
                                                     batch_size=batch_size), self.connect())  # fmt: skip
        rows = [{"response_id": r.id} for r in work.pending]
        kwargs = {"store_url": shared_url(store.url), "run_name": run.name, "spec": spec, "options": options,
                  "scorer_id": work.scorer.id}  # fmt: skip
        scored = unscored = 0
        for batch in self._map(rows, ScoreWorker, kwargs, place).iter_batches(batch_size=None):
            for rid, dim, score, reason, retry in zip(batch["response_id"], batch["dimension"], batch["score"],
                                                      batch["reason"], batch["retry"], strict=True):  # fmt: skip
                if not dim:  # judged before this task ran (a retried task)
                    continue
                judgment = Judgment(
                    str(rid), Dimension(str(dim)), None if score == NO_SCORE else int(score),
                    unscored_reason=str(reason) or None, meta={"retry": True} if retry else {},
                )  # fmt: skip
                scored += judgment.score is not None
                unscored += judgment.score is None
                if progress is not None:
                    progress(judgment)
        return ScoreSummary(work.scorer, work.total, work.already, scored, unscored)


class GenerateWorker:
    """One backend per actor. Each batch: leave out the slots already stored, ask for the rest, commit each
    answer as it arrives; one result row per slot."""

    def __init__(
        self, store_url: str, run_name: str, model_spec: str, config: GenerationConfig, options: BackendOptions
    ) -> None:
        self.store = Store(store_url)
        self.run = self.store.get_run(run_name)
        self.prompts = dict(self.store.prompts(self.run.prompt_set_id))
        self.config = config
        self.loop = _loop()
        self.backend = load_backend(model_spec, options)
        self.loop.run_until_complete(self.backend.start())
        self.recorded_model = False

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        slots = [WorkItem(int(r), int(k), self.prompts[int(r)])
                 for r, k in zip(batch["prompt_row_id"], batch["sample_index"], strict=True)]  # fmt: skip
        stored = self.store.answered(self.run.id, slots)
        todo = [s for s in slots if (s.prompt_row_id, s.sample_index) not in stored]
        results: dict[tuple[int, int], tuple[str, int]] = {}

        def note(slot: WorkItem, outcome: Completion | Failure) -> None:
            key = (slot.prompt_row_id, slot.sample_index)
            if isinstance(outcome, Completion):  # settled: answered, blocked or no answer
                results[key] = (STATUS_OF[outcome.outcome], outcome.completion_tokens or 0)
            else:
                results[key] = ("failed", 0)

        self.loop.run_until_complete(collect(self.store, self.run.id, self.backend, todo, self.config, note))
        if not self.recorded_model and results:
            model = self.backend.describe().get("model")
            self.store.update_run(self.run.id, resolved_model=str(model) if model else None)
            self.recorded_model = True
        rows = [results.get((s.prompt_row_id, s.sample_index), ("stored", 0)) for s in slots]
        return {"status": np.array([r[0] for r in rows]), "tokens": np.array([r[1] for r in rows])}

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(self.backend.close())


class ScoreWorker:
    """One scorer per actor (the official scorer on its GPU, or an LLM judge). Each batch: leave out the
    responses already judged, judge the rest, commit each judgment as it arrives."""

    def __init__(self, store_url: str, run_name: str, spec: str, options: ScorerOptions, scorer_id: int) -> None:
        self.store = Store(store_url)
        self.run = self.store.get_run(run_name)
        self.scorer = make_scorer(spec, options)
        self.info = self.store.scorer(self.scorer.name, self.scorer.config(), kind=self.scorer.kind)
        if self.info.id != scorer_id:
            raise ScorerError(
                f"{spec} on a Ray worker is not the scorer the driver planned for (another checkpoint or"
                " flames-eval version on this node?)"
            )
        self.loop = _loop()
        self.loop.run_until_complete(self.scorer.start())

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = [int(x) for x in batch["response_id"]]
        settled = self.store.settled(self.info, ids)
        todo = self.store.responses(self.run, [i for i in ids if i not in settled])
        judged: dict[int, Judgment] = {}

        def note(judgment: Judgment) -> None:
            judged[int(judgment.key)] = judgment

        self.loop.run_until_complete(judge_pending(self.store, self.scorer, ScorePlan(self.info, len(ids), todo), note))
        rows = [judged.get(i) for i in ids]
        return {
            "response_id": np.array(ids),
            "dimension": np.array([j.dimension.value if j else "" for j in rows]),
            "score": np.array([NO_SCORE if j is None or j.score is None else j.score for j in rows]),
            "reason": np.array([(j.unscored_reason or "") if j else "" for j in rows]),
            "retry": np.array([bool(j and j.meta.get("retry")) for j in rows]),
        }

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(self.scorer.close())
