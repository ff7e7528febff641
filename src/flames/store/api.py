"""The run store's public API: prompt sets, runs, responses and judgments.

Every write that records work (a response, a failure, a judgment) is its own transaction, so an
interrupted run keeps everything that finished. Callers get plain dataclasses, never ORM objects, so
nothing outside this package depends on sessions or lazy loading.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import import_module
from typing import Any, ParamSpec, TypeVar, cast

from sqlalchemy import Engine, Table, and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flames.prompts import PromptSet
from flames.provenance import config_hash, git_commit, tool_version
from flames.records import ANSWERED, Completion, Judgment, OutcomeKind, Prompt, ScoredRecord
from flames.shard import Shard
from flames.storable import REPLACED_KEY, storable, storable_text
from flames.store.batches import BatchStore
from flames.store.db import migrate, open_engine, resolve_url
from flames.store.errors import StoreError as StoreError  # re-exported: raised by the methods below
from flames.store.holds import SLOTS, Holder, Lease, slot_key
from flames.store.names import check_run_name
from flames.store.schema import (
    JudgmentRow,
    PromptRow,
    PromptSetRow,
    ResponseRow,
    RunRow,
    ScorerRow,
    utcnow,
)
from flames.suggest import flames_command
from flames.taxonomy import Dimension
from flames.urls import masked_url

P = ParamSpec("P")
T = TypeVar("T")
RESPONSES = cast(Table, ResponseRow.__table__)
JUDGMENTS = cast(Table, JudgmentRow.__table__)
STATUS_OF: dict[OutcomeKind, str] = {"answered": "ok", "blocked": "blocked", "no_answer": "no_answer"}
"""The `responses.status` each final outcome is stored under."""
OUTCOME_OF: dict[str, OutcomeKind] = {status: outcome for outcome, status in STATUS_OF.items()}
FINAL = tuple(STATUS_OF.values())
"""Statuses of slots that are done: never asked again unless the user asks (`pending(retry=...)`)."""


def _final(retry: Collection[OutcomeKind]) -> list[str]:
    """The statuses that count as done when the outcomes in `retry` are to be asked again."""
    return [status for status in FINAL if status == "ok" or OUTCOME_OF[status] not in retry]


def _retry_on_race(fn: Callable[P, T]) -> Callable[P, T]:
    """Get-or-create under a unique constraint: when a concurrent writer created the row between our
    lookup and our insert, the insert fails; running the transaction again then finds the row."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except IntegrityError:
            return fn(*args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class RunSpec:
    """What defines a run. Two invocations with the same name must agree on `config` (hashed)."""

    name: str
    model_spec: str
    backend: str
    generation_config: dict[str, Any]
    samples: int = 1
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def config_hash(self) -> str:
        return config_hash({"model": self.model_spec, "generation": self.generation_config, "samples": self.samples})


PANEL_RUN_PREFIX = "try:"
"""How the runs of prompt-design panel tries are named (`try:COLLECTION:…`)."""


@dataclass(frozen=True)
class RunInfo:
    id: int
    name: str
    model_spec: str
    backend: str
    resolved_model: str | None
    generation_config: dict[str, Any]
    config_hash: str
    samples: int
    status: str
    prompt_set_id: int
    prompt_set_name: str
    data_sha256: str
    tool_version: str
    git_commit: str | None
    meta: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def panel_try(self) -> bool:
        """A prompt-design panel try (`flames.design.panel`): one model's answer to one draft prompt, not a
        benchmark run; leaderboards leave it out unless asked."""
        return self.name.startswith(PANEL_RUN_PREFIX)


@dataclass(frozen=True)
class WorkItem:
    """A (prompt, sample) slot of a run that has no stored response yet."""

    prompt_row_id: int
    sample_index: int
    prompt: Prompt


@dataclass(frozen=True)
class StoredResponse:
    id: int
    run_id: int
    sample_index: int
    prompt: Prompt
    text: str
    """The answer; empty when the outcome is not `answered`."""
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float | None
    meta: dict[str, Any]
    outcome: OutcomeKind = ANSWERED
    reasoning: str | None = None
    """The reasoning trace, kept apart from the answer (never scored)."""
    detail: str | None = None
    """Why a blocked or no-answer slot has no answer (the provider's code and message, or a hint)."""


@dataclass(frozen=True)
class ScorerInfo:
    id: int
    name: str
    config_hash: str
    config: dict[str, Any]
    kind: str


@dataclass(frozen=True)
class RunCounts:
    prompts: int
    expected: int
    """Slots: prompts × samples."""
    ok: int
    """Answered."""
    failed: int
    """Transient failures still to retry."""
    blocked: int = 0
    no_answer: int = 0

    @property
    def final(self) -> int:
        """Slots with a final outcome (answered, blocked or no answer)."""
        return self.ok + self.blocked + self.no_answer


def _prompt(row: PromptRow) -> Prompt:
    return Prompt(
        row.prompt_id, Dimension(row.dimension), row.subcomponent, row.text, row.attack_method, dict(row.meta)
    )


class Store(BatchStore):
    """A connection to one run store. Opening it migrates the schema to the newest revision."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None):
        self.url = resolve_url(url)
        self._upserts: dict[tuple[Any, ...], Any] = {}
        if engine is None:
            self.engine = open_engine(self.url)  # StoreError naming the URL and the fix when it is no store
        else:
            self.engine = engine
            migrate(engine)

    @property
    def safe_url(self) -> str:
        """The store's URL with any password masked: the only form of it that messages, pages and logs show."""
        return masked_url(self.url)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # -- prompt sets -------------------------------------------------------------------------------------

    @_retry_on_race
    def add_prompt_set(self, prompt_set: PromptSet) -> int:
        """Store a prompt set once per content hash; return its id."""
        with self.session() as s, s.begin():
            existing = s.scalar(select(PromptSetRow.id).where(PromptSetRow.sha256 == prompt_set.sha256))
            if existing is not None:
                return existing
            row = PromptSetRow(
                name=prompt_set.name,
                sha256=prompt_set.sha256,
                source=prompt_set.source,
                n_prompts=len(prompt_set),
            )
            s.add(row)
            s.flush()
            # one executemany, not 1,000 ORM objects: this is on the start-up path of every new run
            s.execute(
                insert(PromptRow),
                [
                    {
                        "prompt_set_id": row.id,
                        "prompt_id": p.id,
                        "position": i,
                        "dimension": p.dimension.value,
                        "subcomponent": p.subcomponent,
                        "attack_method": p.attack_method,
                        "text": p.prompt,
                        "meta": p.metadata,
                    }
                    for i, p in enumerate(prompt_set.prompts)
                ],
            )
            return row.id

    def prompts(self, prompt_set_id: int) -> list[tuple[int, Prompt]]:
        """(row id, prompt) in file order. Plain rows, not ORM objects: this is on every run's start-up path."""
        p = PromptRow
        with self.session() as s:
            rows = s.execute(
                select(p.id, p.prompt_id, p.dimension, p.subcomponent, p.text, p.attack_method, p.meta)
                .where(p.prompt_set_id == prompt_set_id)
                .order_by(p.position)
            )
            return [(r[0], Prompt(r[1], Dimension(r[2]), r[3], r[4], r[5], dict(r[6]))) for r in rows]

    # -- runs --------------------------------------------------------------------------------------------

    @_retry_on_race
    def open_run(self, spec: RunSpec, prompt_set: PromptSet) -> RunInfo:
        """Create the run, or reopen it if `spec` matches what it was created with (resume).

        A different config or prompt set under an existing name is refused: mixing them would make the
        run's numbers mean nothing. A new run's name is checked first (`names.check_run_name`: no control or
        invisible characters); runs stored before that check keep theirs.
        """
        if not self.has_run(spec.name):
            check_run_name(spec.name)
        ps_id = self.add_prompt_set(prompt_set)
        with self.session() as s, s.begin():
            row = s.scalar(select(RunRow).where(RunRow.name == spec.name))
            if row is None:
                row = RunRow(
                    name=spec.name,
                    prompt_set_id=ps_id,
                    model_spec=spec.model_spec,
                    backend=spec.backend,
                    generation_config=spec.generation_config,
                    config_hash=spec.config_hash,
                    samples=spec.samples,
                    tool_version=tool_version(),
                    git_commit=git_commit(),
                    data_sha256=prompt_set.sha256,
                    meta=spec.meta,
                )
                s.add(row)
            else:
                if row.config_hash != spec.config_hash:
                    raise StoreError(
                        f"run {spec.name!r} exists with a different model or generation config"
                        f" (stored: {row.model_spec} {row.generation_config}, samples={row.samples};"
                        f" now: {spec.model_spec} {spec.generation_config}, samples={spec.samples})."
                        f" Give this one another run name (--run), or remove the old run first with"
                        f" `{flames_command('runs', 'delete', spec.name)}`."
                    )
                if row.data_sha256 != prompt_set.sha256:
                    raise StoreError(
                        f"run {spec.name!r} was made on a different prompt set (sha256 {row.data_sha256[:12]}…,"
                        f" now {prompt_set.sha256[:12]}…). Give this one another run name (--run)."
                    )
        return self.get_run(spec.name)

    def get_run(self, name: str) -> RunInfo:
        with self.session() as s:
            row = s.scalar(select(RunRow).where(RunRow.name == name))
            if row is None:
                known = s.scalars(select(RunRow.name).order_by(RunRow.created_at.desc()).limit(10)).all()
                hint = f" Known runs: {', '.join(known)}." if known else " The store has no runs yet."
                raise StoreError(f"no run named {name!r} in {self.safe_url}.{hint}")
            return self._run_info(s, row)

    def has_run(self, name: str) -> bool:
        with self.session() as s:
            return s.scalar(select(RunRow.id).where(RunRow.name == name)) is not None

    def list_runs(self) -> list[RunInfo]:
        with self.session() as s:
            return [self._run_info(s, r) for r in s.scalars(select(RunRow).order_by(RunRow.created_at))]

    @staticmethod
    def _run_info(s: Session, r: RunRow) -> RunInfo:
        ps_name = s.scalar(select(PromptSetRow.name).where(PromptSetRow.id == r.prompt_set_id)) or "?"
        return RunInfo(
            r.id, r.name, r.model_spec, r.backend, r.resolved_model, dict(r.generation_config),
            r.config_hash, r.samples, r.status, r.prompt_set_id, ps_name, r.data_sha256, r.tool_version,
            r.git_commit, dict(r.meta), r.created_at, r.updated_at, r.finished_at,
        )

    def update_run(
        self,
        run_id: int,
        *,
        status: str | None = None,
        resolved_model: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Set status (stamping finished_at on 'complete'), the resolved model, or merge run metadata.

        A run whose every slot is answered stays 'complete': with several workers on one store (`--shard`),
        one that counted before another's last answer must not undo the other's 'complete'.
        """
        with self.session() as s, s.begin():
            row = s.get_one(RunRow, run_id, with_for_update=True)
            if status is not None and not (row.status == "complete" and status != "complete"):
                row.status = status
                row.finished_at = utcnow() if status == "complete" else row.finished_at
            if resolved_model is not None:
                row.resolved_model = storable_text(resolved_model)[0]
            if meta:
                row.meta = {**row.meta, **storable(meta)[0]}
            row.updated_at = utcnow()

    def delete_run(self, name: str, first: Callable[[Session, RunInfo], object] | None = None) -> None:
        """Delete the run with its responses, judgments and batches, in one transaction; `first(session, run)`
        runs at its start (what depends on the run and goes with it: `flames.dependents`).

        Raises StoreError when the database refuses because rows outside the run store still use the run
        (annotation projects: ON DELETE RESTRICT); nothing is deleted then.
        """
        run = self.get_run(name)
        try:
            with self.session() as s, s.begin():
                if first is not None:
                    first(s, run)
                ids = select(ResponseRow.id).where(ResponseRow.run_id == run.id)
                s.execute(delete(JudgmentRow).where(JudgmentRow.response_id.in_(ids)))
                s.execute(delete(ResponseRow).where(ResponseRow.run_id == run.id))
                s.execute(delete(RunRow).where(RunRow.id == run.id))
        except IntegrityError as err:
            raise StoreError(
                f"run {name!r} was not deleted: other records in the store (annotation projects) still use it."
                f" See them with `{flames_command('runs', 'delete', name)}` (it names them and what goes with them)"
            ) from err

    def counts(self, run: RunInfo) -> RunCounts:
        with self.session() as s:
            n_prompts = s.scalar(
                select(func.count()).select_from(PromptRow).where(PromptRow.prompt_set_id == run.prompt_set_id)
            )
            by_status = dict(
                s.execute(
                    select(ResponseRow.status, func.count())
                    .where(ResponseRow.run_id == run.id)
                    .group_by(ResponseRow.status)
                ).all()
            )
        n = int(n_prompts or 0)
        got = {k: int(by_status.get(k, 0)) for k in ("ok", "failed", "blocked", "no_answer")}
        return RunCounts(n, n * run.samples, got["ok"], got["failed"], got["blocked"], got["no_answer"])

    # -- responses ---------------------------------------------------------------------------------------

    def pending(
        self,
        run: RunInfo,
        limit: int | None = None,
        shard: Shard | None = None,
        retry: Collection[OutcomeKind] = (),
        held: bool = False,
    ) -> list[WorkItem]:
        """Slots without a final outcome and not held by a live holder (another process, an open provider
        batch: `flames.store.holds`), in prompt order; `limit` restricts to the first N prompts, `shard` to the
        prompts of one shard (`flames.shard`); `held` includes the held ones too.

        `retry` names final outcomes to ask again anyway ("blocked", "no_answer": `--retry-blocked`,
        `--retry-no-answer`); an answered slot is never asked again.
        """
        with self.session() as s:
            rows = s.execute(
                select(ResponseRow.prompt_row_id, ResponseRow.sample_index).where(
                    ResponseRow.run_id == run.id, ResponseRow.status.in_(_final(retry))
                )
            )
            done = {(r, k) for r, k in rows}
        taken = {} if held else self.held(run.id, SLOTS)
        prompts = self.prompts(run.prompt_set_id)[:limit]
        if shard is not None:
            prompts = [(row_id, p) for row_id, p in prompts if shard.contains(p.id)]
        return [
            WorkItem(row_id, k, p)
            for row_id, p in prompts
            for k in range(run.samples)
            if (row_id, k) not in done and (not taken or slot_key(run.id, row_id, k) not in taken)
        ]

    def holders(self, run: RunInfo, slots: Sequence[WorkItem]) -> list[Holder]:
        """The live holders of these slots of the run (`flames.store.holds`), most slots first."""
        return self.holders_of(self.held(run.id, SLOTS), [slot_key(run.id, s.prompt_row_id, s.sample_index)
                                                          for s in slots])  # fmt: skip

    def claim_slots(
        self, lease: Lease, run: RunInfo, slots: Sequence[WorkItem], retry: Collection[OutcomeKind] = ()
    ) -> list[WorkItem]:
        """The slots `lease` won (`flames.store.holds`), less those that got a final outcome meanwhile (not
        named in `retry`): the ones this process may now pay for, in their order."""
        keys = [slot_key(run.id, s.prompt_row_id, s.sample_index) for s in slots]
        won = lease.claim(run.id, keys)
        with self.session() as s:
            rows = s.execute(
                select(ResponseRow.prompt_row_id, ResponseRow.sample_index).where(
                    ResponseRow.run_id == run.id, ResponseRow.status.in_(_final(retry))
                )
            )
            final = {(r, k) for r, k in rows}
        return [slot for slot, key in zip(slots, keys, strict=True)
                if key in won and (slot.prompt_row_id, slot.sample_index) not in final]  # fmt: skip

    def answered(
        self, run_id: int, slots: Sequence[WorkItem], retry: Collection[OutcomeKind] = ()
    ) -> set[tuple[int, int]]:
        """Which of these slots already hold a final outcome (an answer, or a blocked / no-answer slot not
        named in `retry`), as (prompt row id, sample index): the check a worker makes just before paying for
        a request that another worker (or a retried task) may have made."""
        rows = {slot.prompt_row_id for slot in slots}
        with self.session() as s:
            found = s.execute(
                select(ResponseRow.prompt_row_id, ResponseRow.sample_index).where(
                    ResponseRow.run_id == run_id, ResponseRow.status.in_(_final(retry)),
                    ResponseRow.prompt_row_id.in_(rows),
                )
            )
            return {(r, k) for r, k in found}

    def _upsert(self, table: Table, values: dict[str, Any], keys: tuple[str, ...], keep: tuple[str, ...] = ()) -> None:
        """Insert, or update the row with the same `keys` unless its status is one of `keep`. Text no database
        takes (NUL, lone surrogates: `flames.storable`) is replaced, and counted in the row's meta.

        The statement is built once per shape and reused: building it costs more CPU than running it,
        and this is the per-response hot path of collection.
        """
        shape = (table.name, tuple(values), keys, keep)
        stmt = self._upserts.get(shape)
        if stmt is None:
            # each dialect's own INSERT ... ON CONFLICT, loaded for the database in use only
            dialect = "postgresql" if self.engine.dialect.name == "postgresql" else "sqlite"
            ins: Any = import_module(f"sqlalchemy.dialects.{dialect}").insert(table)
            stmt = self._upserts[shape] = ins.on_conflict_do_update(
                index_elements=list(keys),
                set_={k: ins.excluded[k] for k in values if k not in keys},
                # `!=` per status, not NOT IN: an expanding IN is re-rendered on every execution
                where=and_(*(table.c.status != status for status in keep)) if keep else None,
            )
        values, replaced = storable(values)  # the last guard: the model boundary has replaced them already
        if replaced and isinstance(values.get("meta"), dict) and REPLACED_KEY not in values["meta"]:
            values["meta"] = {**values["meta"], REPLACED_KEY: {"stored": replaced}}
        with self.engine.begin() as conn:
            conn.execute(stmt, values)

    def save_response(self, run_id: int, slot: WorkItem, completion: Completion, attempts: int = 1) -> None:
        """Commit one final outcome now: an answer, or a blocked / no-answer slot (`completion.outcome`; its
        text is stored as NULL and `completion.detail` as the error). A slot that already has an answer keeps it.
        """
        answered = completion.outcome == ANSWERED
        values = {
            "run_id": run_id,
            "prompt_row_id": slot.prompt_row_id,
            "sample_index": slot.sample_index,
            "status": STATUS_OF[completion.outcome],
            "text": completion.text if answered else None,
            "reasoning": completion.reasoning,
            "finish_reason": completion.finish_reason,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "latency_s": completion.latency_s,
            "attempts": attempts,
            "error": completion.detail,
            "meta": completion.meta,
            "created_at": utcnow(),
        }
        self._upsert(RESPONSES, values, ("run_id", "prompt_row_id", "sample_index"), keep=("ok",))

    def save_failure(self, run_id: int, slot: WorkItem, error: str, attempts: int) -> None:
        """Record that a slot failed (never as a response: text stays NULL); a slot with a final outcome
        (answered, blocked, no answer) keeps it."""
        values = {
            "run_id": run_id,
            "prompt_row_id": slot.prompt_row_id,
            "sample_index": slot.sample_index,
            "status": "failed",
            "text": None,
            "attempts": attempts,
            "error": error,
            "created_at": utcnow(),
        }
        self._upsert(RESPONSES, values, ("run_id", "prompt_row_id", "sample_index"), keep=FINAL)

    def responses(
        self, run: RunInfo, ids: Collection[int] | None = None, withheld: bool = False
    ) -> list[StoredResponse]:
        """The run's answers in prompt order (only those with these response ids, when given); with
        `withheld`, also its blocked and no-answer slots (empty text, `outcome` and `detail` set). Only
        answers are ever given to a scorer."""
        query = (
            select(ResponseRow, PromptRow)
            .join(PromptRow, PromptRow.id == ResponseRow.prompt_row_id)
            .where(ResponseRow.run_id == run.id, ResponseRow.status.in_(FINAL if withheld else ("ok",)))
            .order_by(PromptRow.position, ResponseRow.sample_index)
        )
        if ids is not None:
            query = query.where(ResponseRow.id.in_(ids))
        with self.session() as s:
            rows = s.execute(query)
            return [
                StoredResponse(
                    r.id,
                    r.run_id,
                    r.sample_index,
                    _prompt(p),
                    r.text or "",
                    r.finish_reason,
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.latency_s,
                    dict(r.meta),
                    OUTCOME_OF[r.status],
                    r.reasoning,
                    r.error,
                )
                for r, p in rows
            ]

    def failures(self, run: RunInfo) -> list[tuple[Prompt, int, str]]:
        """(prompt, sample index, last error) of slots that failed and were not yet answered."""
        with self.session() as s:
            rows = s.execute(
                select(PromptRow, ResponseRow.sample_index, ResponseRow.error)
                .join(ResponseRow, PromptRow.id == ResponseRow.prompt_row_id)
                .where(ResponseRow.run_id == run.id, ResponseRow.status == "failed")
                .order_by(PromptRow.position)
            )
            return [(_prompt(p), k, e or "") for p, k, e in rows]

    # -- scorers and judgments ---------------------------------------------------------------------------

    @_retry_on_race
    def scorer(self, name: str, config: dict[str, Any], kind: str = "model") -> ScorerInfo:
        """Get or create the scorer identity for (name, config)."""
        h = config_hash(config)
        with self.session() as s, s.begin():
            row = s.scalar(select(ScorerRow).where(ScorerRow.name == name, ScorerRow.config_hash == h))
            if row is None:
                row = ScorerRow(name=name, config_hash=h, config=config, kind=kind)
                s.add(row)
                s.flush()
            return ScorerInfo(row.id, row.name, row.config_hash, dict(row.config), row.kind)

    def scorers_for(self, run: RunInfo, final_only: bool = False) -> list[ScorerInfo]:
        """Scorers that judged at least one response of the run, oldest first. With `final_only`, only those
        holding at least one final judgment: a score, or unscored without `retry` (every judgment of a
        scorer whose requests all failed in transit is marked `retry`: it judged nothing yet)."""
        of_run = select(JudgmentRow.scorer_id).join(ResponseRow, ResponseRow.id == JudgmentRow.response_id)
        of_run = of_run.where(ResponseRow.run_id == run.id)
        with self.session() as s:
            rows = list(s.scalars(select(ScorerRow).where(ScorerRow.id.in_(of_run)).order_by(ScorerRow.id)))
            if final_only and rows:
                final = set(s.scalars(of_run.where(JudgmentRow.score.is_not(None)).distinct()))
                unsure = [r.id for r in rows if r.id not in final]
                if unsure:  # scorers without a score: is any of their unscored judgments final?
                    metas = s.execute(of_run.add_columns(JudgmentRow.meta).where(JudgmentRow.scorer_id.in_(unsure)))
                    final |= {sid for sid, meta in metas if not (meta or {}).get("retry")}
                rows = [r for r in rows if r.id in final]
            return [ScorerInfo(r.id, r.name, r.config_hash, dict(r.config), r.kind) for r in rows]

    def resolve_scorer(self, run: RunInfo, name: str | None) -> ScorerInfo:
        """The scorer to report a run with: by name (or id prefix `name@hash`), or by default the newest one
        holding a final judgment on the run (`scorers_for(run, final_only=True)`), so an attempt whose judge
        never answered does not hide the scores of an earlier one."""
        scorers = self.scorers_for(run)
        if not scorers:
            how = flames_command("score", run.name)
            raise StoreError(f"run {run.name!r} has no judgments yet; score it with `{how}`")
        if name is None:
            final = self.scorers_for(run, final_only=True)
            if not final:
                tried = ", ".join(f"{sc.name}@{sc.config_hash[:8]}" for sc in scorers)
                raise StoreError(
                    f"run {run.name!r} has no final judgment yet: every request of {tried} failed in transit;"
                    f" rerun `{flames_command('score', run.name, '--scorer', 'SPEC')}` to ask again, or show one with"
                    " --scorer NAME"
                )
            return final[-1]
        hits = [sc for sc in scorers if name in (sc.name, f"{sc.name}@{sc.config_hash[:8]}", sc.config_hash[:8])]
        if not hits:
            known = ", ".join(f"{sc.name}@{sc.config_hash[:8]}" for sc in scorers)
            raise StoreError(f"run {run.name!r} was not scored by {name!r}; it has: {known}")
        return hits[-1]

    def save_judgment(self, response_id: int, scorer: ScorerInfo, judgment: Judgment) -> None:
        """Commit one judgment now, replacing an earlier one by the same scorer."""
        values = {
            "response_id": response_id,
            "scorer_id": scorer.id,
            "score": judgment.score,
            "probs": list(judgment.probs) if judgment.probs is not None else None,
            "raw_output": judgment.raw,
            "unscored_reason": judgment.unscored_reason,
            "meta": judgment.meta,
            "created_at": utcnow(),
        }
        self._upsert(JUDGMENTS, values, ("response_id", "scorer_id"))

    def settled(self, scorer: ScorerInfo, response_ids: Collection[int]) -> set[int]:
        """Which of these responses hold this scorer's judgment, not marked `retry`: the check a worker makes
        just before judging (and paying for) a response that a retried task may already have judged."""
        with self.session() as s:
            rows = s.execute(
                select(JudgmentRow.response_id, JudgmentRow.meta).where(
                    JudgmentRow.scorer_id == scorer.id, JudgmentRow.response_id.in_(response_ids)
                )
            )
            return {rid for rid, meta in rows if not (meta or {}).get("retry")}

    def judgments(self, run: RunInfo, scorer: ScorerInfo) -> dict[int, Judgment]:
        """response id → judgment, for one scorer."""
        with self.session() as s:
            rows = s.execute(
                select(JudgmentRow, PromptRow.dimension)
                .join(ResponseRow, ResponseRow.id == JudgmentRow.response_id)
                .join(PromptRow, PromptRow.id == ResponseRow.prompt_row_id)
                .where(ResponseRow.run_id == run.id, JudgmentRow.scorer_id == scorer.id)
            )
            return {
                j.response_id: Judgment(
                    str(j.response_id),
                    Dimension(dim),
                    j.score,
                    tuple(j.probs) if j.probs is not None else None,
                    j.raw_output,
                    j.unscored_reason,
                    dict(j.meta),
                )
                for j, dim in rows
            }

    def scored_records(self, run: RunInfo, scorer: ScorerInfo) -> list[ScoredRecord]:
        """One record per final outcome: answers with the scorer's score (None when it has not judged them,
        i.e. unscored), blocked and no-answer slots with their outcome and no score."""
        judged = self.judgments(run, scorer)
        return [
            ScoredRecord(
                r.prompt.id,
                r.prompt.dimension,
                r.prompt.subcomponent,
                judged[r.id].score if r.id in judged and r.outcome == ANSWERED else None,
                r.prompt.attack_method,
                r.sample_index,
                r.outcome,
            )
            for r in self.responses(run, withheld=True)
        ]
