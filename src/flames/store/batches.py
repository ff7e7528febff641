"""The store's record of provider batch jobs (`flames.batch`): which requests each batch holds and where it is.

A batch is written here, with every request it holds, before its file is uploaded; its remote ids are added
the moment the provider returns them. While a batch is open (not yet collected) it is a lease without expiry
(`flames.store.holds`) on the slots or judge requests it holds: neither another batch nor a live run asks
for them, so nothing is paid for twice. Collecting or abandoning it sets `collected_at` and ends its lease,
which hands back whatever it did not answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from flames.store.holds import HoldStore, Lease, batch_owner, judgment_key, slot_key
from flames.store.schema import BatchItemRow, BatchRow, HoldRow, LeaseRow, utcnow

GENERATE = "generate"
SCORE = "score"
_UPDATABLE = frozenset(
    {"remote_id", "input_file_id", "output_file_id", "error_file_id", "status", "request_counts", "meta"}
)


@dataclass(frozen=True)
class BatchItem:
    """One request line: `custom_id` in the file; for an answer the slot (`prompt_row_id`, `sample_index`) it
    fills, for a judge request the response it judges and the judge's own request key."""

    custom_id: str
    prompt_row_id: int | None = None
    sample_index: int = 0
    response_id: int | None = None
    request_key: str | None = None


@dataclass(frozen=True)
class BatchInfo:
    id: int
    run_id: int
    scorer_id: int | None
    kind: str
    provider: str
    base_url: str
    endpoint: str
    api_key_env: str
    model: str
    local_key: str
    remote_id: str | None
    input_file_id: str | None
    output_file_id: str | None
    error_file_id: str | None
    status: str
    n_requests: int
    n_bytes: int
    request_counts: dict[str, Any]
    result: dict[str, Any]
    meta: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    collected_at: datetime | None

    @property
    def is_open(self) -> bool:
        """Not collected yet: the requests it holds are reserved."""
        return self.collected_at is None


def _info(r: BatchRow) -> BatchInfo:
    return BatchInfo(
        r.id, r.run_id, r.scorer_id, r.kind, r.provider, r.base_url, r.endpoint, r.api_key_env, r.model,
        r.local_key, r.remote_id, r.input_file_id, r.output_file_id, r.error_file_id, r.status, r.n_requests,
        r.n_bytes, dict(r.request_counts), dict(r.result), dict(r.meta), r.created_at, r.updated_at,
        r.collected_at,
    )  # fmt: skip


class BatchStore(HoldStore):
    """Batch bookkeeping, mixed into `Store` (which provides `session` and `engine`)."""

    def session(self) -> Session:
        raise NotImplementedError

    def add_batch(
        self,
        run_id: int,
        *,
        kind: str,
        provider: str,
        base_url: str,
        endpoint: str,
        api_key_env: str,
        model: str,
        items: Sequence[BatchItem],
        n_bytes: int,
        scorer_id: int | None = None,
        meta: dict[str, Any] | None = None,
        lease: Lease | None = None,
    ) -> BatchInfo:
        """Record a batch (status 'preparing') and every request it holds, and make it their holder, in one
        transaction: the holds `lease` has on them are handed over (claim them first: a request another live
        holder has stays theirs)."""
        if kind not in (GENERATE, SCORE):
            raise ValueError(f"batch kind must be {GENERATE!r} or {SCORE!r}, not {kind!r}")
        with self.session() as s, s.begin():
            row = BatchRow(
                run_id=run_id, scorer_id=scorer_id, kind=kind, provider=provider, base_url=base_url,
                endpoint=endpoint, api_key_env=api_key_env, model=model, local_key=uuid.uuid4().hex,
                status="preparing", n_requests=len(items), n_bytes=n_bytes, request_counts={}, result={},
                meta=meta or {},
            )  # fmt: skip
            s.add(row)
            s.flush()
            s.execute(
                insert(BatchItemRow),
                [
                    {
                        "batch_id": row.id,
                        "custom_id": it.custom_id,
                        "prompt_row_id": it.prompt_row_id,
                        "sample_index": it.sample_index,
                        "response_id": it.response_id,
                        "request_key": it.request_key,
                    }
                    for it in items
                ],
            )
            keys = [slot_key(run_id, it.prompt_row_id or 0, it.sample_index) if kind == GENERATE
                    else judgment_key(scorer_id or 0, it.response_id or 0) for it in items]  # fmt: skip
            self.hold_for_batch(s.connection(), row.id, row.local_key, run_id, keys, lease)
            return _info(row)

    def update_batch(self, batch_id: int, **fields: Any) -> BatchInfo:
        """Set remote ids, status, the provider's request counts or merge `meta`; commits at once."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update batch fields {sorted(unknown)}")
        with self.session() as s, s.begin():
            row = s.get_one(BatchRow, batch_id, with_for_update=True)
            for name, value in fields.items():
                setattr(row, name, {**row.meta, **value} if name == "meta" else value)
            row.updated_at = utcnow()
            return _info(row)

    def close_batch(self, batch_id: int, result: dict[str, Any]) -> BatchInfo:
        """Mark a batch collected (or abandoned) with what that did and end its lease: its unanswered requests
        become pending again."""
        with self.session() as s, s.begin():
            row = s.get_one(BatchRow, batch_id, with_for_update=True)
            row.result = result
            row.collected_at = row.updated_at = utcnow()
            owner = batch_owner(row.local_key)
            s.execute(delete(HoldRow).where(HoldRow.owner == owner))
            s.execute(delete(LeaseRow).where(LeaseRow.owner == owner))
            return _info(row)

    def get_batch(self, batch_id: int) -> BatchInfo:
        with self.session() as s:
            return _info(s.get_one(BatchRow, batch_id))

    def batches(self, run_id: int, *, open_only: bool = False) -> list[BatchInfo]:
        """The run's batches, oldest first."""
        query = select(BatchRow).where(BatchRow.run_id == run_id).order_by(BatchRow.id)
        if open_only:
            query = query.where(BatchRow.collected_at.is_(None))
        with self.session() as s:
            return [_info(r) for r in s.scalars(query)]

    def batch_items(self, batch_id: int) -> list[BatchItem]:
        with self.session() as s:
            rows = s.scalars(select(BatchItemRow).where(BatchItemRow.batch_id == batch_id).order_by(BatchItemRow.id))
            return [BatchItem(r.custom_id, r.prompt_row_id, r.sample_index, r.response_id, r.request_key) for r in rows]
