"""The labelling workflow: claim an item, label/skip/flag it, adjudicate disagreements, publish finals.

Every write transaction on an item starts by bumping the item's `version`, which takes the database write
lock on SQLite and the row lock on PostgreSQL; everything read after that is current, so two annotators
finishing the same item at once, or one annotator double-submitting, cannot lose or duplicate a label.
Final labels are copied into the store as judgments of the project's human scorer right after the
decision commits; `publish` repeats that for all items and is idempotent.

Blindness: an item's labels, explanations and reasons are shown to nobody but their authors (adjudicators
and admins included) while the item is still being labelled. An item leaves labelling only when all its
places are answered and never returns to it, so whoever sees its labels afterwards can no longer be
assigned it. One open claim per annotator and project: the check runs inside the claim's transaction,
after locks that serialise the user's claims (see `_claim`).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from flames.annotate.errors import AnnotationError, Conflict, Forbidden, NotFound
from flames.annotate.projects import ItemRecord, Project, human_scorer, item_records
from flames.annotate.schema import ItemRow, ItemStatus, LabelRow, LabelStatus, Provenance, UserRow
from flames.records import Judgment
from flames.store import Store
from flames.store.schema import PromptRow, ResponseRow, utcnow
from flames.taxonomy import Dimension, check_score

log = logging.getLogger(__name__)
MAX_REASON = 2000
CLAIM_TIMEOUT = timedelta(hours=4)
_CANDIDATES = 20


@dataclass(frozen=True)
class Progress:
    items: int
    labeling: int
    adjudication: int
    done: int
    unanimous: int
    adjudicated: int
    unresolved: int
    labels: int
    """Submitted labels (scored or flagged)."""
    flagged: int
    skipped: int


def _lock(s: Session, item_id: int, project: Project) -> ItemRow:
    """Serialise writers on one item (see module docstring) and return its current row."""
    bumped = s.execute(
        update(ItemRow)
        .where(ItemRow.id == item_id, ItemRow.project_id == project.id)
        .values(version=ItemRow.version + 1)
    )
    if bumped.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(f"item {item_id} is not part of project {project.name!r}")
    return s.get_one(ItemRow, item_id, populate_existing=True)


def _dimension(s: Session, item: ItemRow) -> Dimension:
    dim = s.scalar(
        select(PromptRow.dimension)
        .join(ResponseRow, ResponseRow.prompt_row_id == PromptRow.id)
        .where(ResponseRow.id == item.response_id)
    )
    return Dimension(str(dim))


def _clean(text: str | None, what: str, required: bool = False) -> str | None:
    text = (text or "").strip()
    if required and not text:
        raise AnnotationError(f"a {what} is required")
    if len(text) > MAX_REASON:
        raise AnnotationError(f"the {what} is too long ({len(text)} characters; at most {MAX_REASON})")
    return text or None


# -- annotators ------------------------------------------------------------------------------------------


def _candidates(s: Session, project: Project, user_id: int, tried: set[int]) -> list[int]:
    """Open items this user has never touched, partly claimed ones first (so items finish and can be
    adjudicated early), the untouched rest shuffled so concurrent annotators do not all queue on one row."""
    held = (
        select(func.count())
        .where(LabelRow.item_id == ItemRow.id, LabelRow.slot.is_not(None))
        .correlate(ItemRow)
        .scalar_subquery()
    )
    mine = exists().where(LabelRow.item_id == ItemRow.id, LabelRow.user_id == user_id)
    rows = s.execute(
        select(ItemRow.id, held)
        .where(
            ItemRow.project_id == project.id,
            ItemRow.status == ItemStatus.LABELING,
            ~mine,
            held < project.per_item,
            ItemRow.id.not_in(tried),
        )
        .order_by(held.desc(), ItemRow.position)
        .limit(_CANDIDATES)
    ).all()
    started = [i for i, n in rows if n > 0]
    fresh = [i for i, n in rows if n == 0]
    random.shuffle(fresh)
    return started + fresh


def _pending(s: Session, project: Project, user_id: int) -> int | None:
    """The user's open claim in the project (the oldest, should there ever be two)."""
    return s.scalar(
        select(LabelRow.id)
        .join(ItemRow, ItemRow.id == LabelRow.item_id)
        .where(ItemRow.project_id == project.id, LabelRow.user_id == user_id, LabelRow.status == LabelStatus.PENDING)
        .order_by(LabelRow.id)
        .limit(1)
    )


def _claim(store: Store, project: Project, item_id: int, user_id: int) -> int | None:
    """Claim a place on the item; the user's open claim instead if they already hold one; None when the item
    has no place for them.

    The item's lock comes first (on SQLite that write takes the database lock before anything is read, so no
    stale snapshot), then the user's row `FOR UPDATE` (PostgreSQL; SQLite is already serialised): two claims
    by one user are serialised, and the second sees the first's label in the open-claim check."""
    with store.session() as s, s.begin():
        item = _lock(s, item_id, project)
        s.execute(select(UserRow.id).where(UserRow.id == user_id).with_for_update())
        held = _pending(s, project, user_id)
        if held is not None:
            return held
        if item.status != ItemStatus.LABELING:
            return None
        rows = s.execute(select(LabelRow.user_id, LabelRow.slot).where(LabelRow.item_id == item_id)).all()
        taken = {slot for _, slot in rows if slot is not None}
        if any(uid == user_id for uid, _ in rows) or len(taken) >= project.per_item:
            return None
        label = LabelRow(
            item_id=item_id,
            user_id=user_id,
            slot=min(set(range(project.per_item)) - taken),
            status=LabelStatus.PENDING,
        )
        s.add(label)
        s.flush()
        return label.id


def release_stale(store: Store, project: Project, older_than: timedelta = CLAIM_TIMEOUT) -> int:
    """Give back places claimed but not answered for `older_than` (the annotator left), so items never stall.

    The label becomes 'skipped' with a reason: the holder can no longer submit it and never gets the item
    again; the place goes to the next person who asks."""
    stale = (
        LabelRow.status == LabelStatus.PENDING,
        LabelRow.assigned_at < utcnow() - older_than,
        LabelRow.item_id.in_(select(ItemRow.id).where(ItemRow.project_id == project.id)),
    )
    with store.session() as s:  # a read first: the common case (nothing stale) takes no write lock
        if s.scalar(select(LabelRow.id).where(*stale).limit(1)) is None:
            return 0
    reason = f"released: no answer within {older_than.total_seconds() / 3600:g} h of being assigned"
    with store.session() as s, s.begin():
        done = s.execute(
            update(LabelRow)
            .where(*stale)
            .values(status=LabelStatus.SKIPPED, slot=None, reason=reason, submitted_at=utcnow())
        )
    return int(done.rowcount)  # type: ignore[attr-defined]


def open_assignment(store: Store, project: Project, user_id: int) -> int | None:
    """The user's open (claimed, unanswered) assignment in the project, if any. Reads only."""
    with store.session() as s:
        return _pending(s, project, user_id)


def next_assignment(store: Store, project: Project, user_id: int) -> int | None:
    """The user's open assignment, or a newly claimed one; None when nothing is left for them. Writes (claims,
    releases stale claims): call it only for a state-changing request."""
    release_stale(store, project)
    pending = open_assignment(store, project, user_id)
    if pending is not None:
        return pending
    tried: set[int] = set()
    while True:
        with store.session() as s:
            candidates = _candidates(s, project, user_id, tried)
        if not candidates:
            return None
        for item_id in candidates:
            label_id = _claim(store, project, item_id, user_id)
            if label_id is not None:
                return label_id
            tried.add(item_id)


def assignment(store: Store, project: Project, label_id: int, user_id: int) -> tuple[ItemRecord, int]:
    """The item behind one of the user's own labels, and that label's id. Other people's labels are
    indistinguishable from missing ones (NotFound), so ids cannot be probed."""
    with store.session() as s:
        item_id = s.scalar(
            select(LabelRow.item_id)
            .join(ItemRow, ItemRow.id == LabelRow.item_id)
            .where(LabelRow.id == label_id, LabelRow.user_id == user_id, ItemRow.project_id == project.id)
        )
    if item_id is None:
        raise NotFound(f"no assignment {label_id} of yours in project {project.name!r}")
    (record,) = item_records(store, project, [item_id])
    return record, label_id


def _finish_labeling(s: Session, item: ItemRow, per_item: int) -> bool:
    """After a label: decide the item if all N places are answered. True when it got a final label."""
    answered = s.execute(
        select(LabelRow.status, LabelRow.score).where(
            LabelRow.item_id == item.id,
            LabelRow.slot.is_not(None),
            LabelRow.status.in_([LabelStatus.LABELED, LabelStatus.FLAGGED]),
        )
    ).all()
    if len(answered) < per_item:
        return False
    scores = {score for status, score in answered if status == LabelStatus.LABELED}
    if len(scores) == 1 and all(status == LabelStatus.LABELED for status, _ in answered):
        item.status, item.final_score, item.provenance = ItemStatus.DONE, scores.pop(), Provenance.UNANIMOUS
        item.decided_at = utcnow()
        return True
    item.status = ItemStatus.ADJUDICATION
    return False


def _answer(
    store: Store, project: Project, label_id: int, user_id: int, status: LabelStatus,
    score: int | None = None, explanation: str | None = None, reason: str | None = None,
) -> None:  # fmt: skip
    record, _ = assignment(store, project, label_id, user_id)
    decided = False
    with store.session() as s, s.begin():
        item = _lock(s, record.item_id, project)
        label = s.get_one(LabelRow, label_id, populate_existing=True)
        if label.status != LabelStatus.PENDING:
            if label.status == status and label.score == score:
                return  # a repeated submit (double click, retried request): already recorded
            if label.status == LabelStatus.SKIPPED:
                raise Conflict(f"this assignment was given up ({label.reason}); take the next item")
            raise Conflict(f"you already answered this item ({label.status}); a submitted label is final")
        if score is not None:
            try:
                check_score(_dimension(s, item), score)
            except ValueError as err:
                raise AnnotationError(str(err)) from err
        label.status, label.score, label.submitted_at = status, score, utcnow()
        label.explanation, label.reason = explanation, reason
        if status == LabelStatus.SKIPPED:
            label.slot = None
        else:
            decided = _finish_labeling(s, item, project.per_item)
    if decided:
        _publish_now(store, project, record.item_id)


def submit(store: Store, project: Project, label_id: int, user_id: int, score: int, explanation: str | None) -> None:
    """Record a score (and optional explanation) for one of the user's pending assignments."""
    _answer(store, project, label_id, user_id, LabelStatus.LABELED, score, _clean(explanation, "explanation"))


def skip(store: Store, project: Project, label_id: int, user_id: int, reason: str) -> None:
    """Give the item back (its place goes to someone else); the user never gets it again."""
    _answer(store, project, label_id, user_id, LabelStatus.SKIPPED, reason=_clean(reason, "reason", True))


def flag(store: Store, project: Project, label_id: int, user_id: int, reason: str) -> None:
    """Report the item as broken or off-dimension; it goes to an adjudicator once all places are answered."""
    _answer(store, project, label_id, user_id, LabelStatus.FLAGGED, reason=_clean(reason, "reason", True))


def my_labels(store: Store, project: Project, user_id: int) -> list[tuple[ItemRecord, int]]:
    """(item, own label id) for everything the user answered or holds, newest first — own labels only."""
    with store.session() as s:
        mine = dict(
            s.execute(
                select(LabelRow.item_id, LabelRow.id)
                .join(ItemRow, ItemRow.id == LabelRow.item_id)
                .where(ItemRow.project_id == project.id, LabelRow.user_id == user_id)
            ).all()
        )
    records = item_records(store, project, list(mine))
    return sorted(((r, mine[r.item_id]) for r in records), key=lambda x: -x[1])


# -- adjudicators ----------------------------------------------------------------------------------------


def next_adjudication(store: Store, project: Project, user_id: int) -> int | None:
    """The first item waiting for adjudication that this user did not label."""
    with store.session() as s:
        return s.scalar(
            select(ItemRow.id)
            .where(
                ItemRow.project_id == project.id,
                ItemRow.status == ItemStatus.ADJUDICATION,
                ~exists().where(LabelRow.item_id == ItemRow.id, LabelRow.user_id == user_id),
            )
            .order_by(ItemRow.position)
            .limit(1)
        )


def adjudication_item(store: Store, project: Project, item_id: int, user_id: int) -> ItemRecord:
    """The item with all labels and explanations, for an adjudicator who did not label it, once the item has
    left labelling (waiting for adjudication, or decided). While it is being labelled its labels stay hidden
    from everyone: Conflict."""
    records = item_records(store, project, [item_id])
    if not records:
        raise NotFound(f"item {item_id} is not part of project {project.name!r}")
    _check_adjudicator(store, item_id, user_id)
    if records[0].status == ItemStatus.LABELING:
        raise Conflict(
            f"item {item_id} is still being labelled: its labels stay hidden until all its annotators have "
            "answered and it needs adjudication"
        )
    return records[0]


def _check_adjudicator(store: Store, item_id: int, user_id: int) -> None:
    with store.session() as s:
        if s.scalar(select(LabelRow.id).where(LabelRow.item_id == item_id, LabelRow.user_id == user_id)):
            raise Forbidden("you labelled this item; a different person must adjudicate it")


def adjudicate(store: Store, project: Project, item_id: int, user_id: int, score: int | None, note: str | None) -> None:
    """Decide an item in adjudication: a score (adjudicated) or, with a note, no score (unresolved)."""
    _check_adjudicator(store, item_id, user_id)
    note = _clean(note, "note", required=score is None)
    with store.session() as s, s.begin():
        item = _lock(s, item_id, project)
        if item.status != ItemStatus.ADJUDICATION:
            state = f"already decided ({item.provenance})" if item.status == ItemStatus.DONE else "still being labelled"
            raise Conflict(f"item {item_id} is {state}; nothing to adjudicate")
        if score is not None:
            try:
                check_score(_dimension(s, item), score)
            except ValueError as err:
                raise AnnotationError(str(err)) from err
        item.status, item.final_score, item.final_note = ItemStatus.DONE, score, note
        item.provenance = Provenance.ADJUDICATED if score is not None else Provenance.UNRESOLVED
        item.adjudicator_id, item.decided_at = user_id, utcnow()
    _publish_now(store, project, item_id)


# -- results ---------------------------------------------------------------------------------------------


def judgment(record: ItemRecord) -> Judgment:
    """The store judgment for a decided item; unresolved items are explicitly unscored."""
    meta = {
        "provenance": record.provenance,
        "adjudicator": record.adjudicator,
        "labels": [
            {
                "annotator": lab.annotator,
                "status": lab.status,
                "score": lab.score,
                "explanation": lab.explanation,
                "reason": lab.reason,
            }
            for lab in record.labels
            if lab.status != LabelStatus.PENDING
        ],
    }
    key = str(record.response_id)
    if record.final_score is None:
        return Judgment(
            key,
            record.dimension,
            None,
            raw=record.final_note,
            unscored_reason=f"unresolved by annotators: {record.final_note}",
            meta=meta,
        )
    return Judgment(key, record.dimension, record.final_score, raw=record.final_note, meta=meta)


def publish(store: Store, project: Project, item_ids: list[int] | None = None) -> int:
    """Save decided items as judgments of `human:{project}` in the store; returns how many were written."""
    scorer = human_scorer(store, project)
    decided = [r for r in item_records(store, project, item_ids) if r.status == ItemStatus.DONE]
    for record in decided:
        store.save_judgment(record.response_id, scorer, judgment(record))
    return len(decided)


def _publish_now(store: Store, project: Project, item_id: int) -> None:
    """Copy a fresh decision to the store. The decision itself is already committed, so a failure here
    must not fail the request: the judgment is written by the next `publish` (export, validate)."""
    try:
        publish(store, project, [item_id])
    except SQLAlchemyError:
        log.warning("item %s decided but not yet copied to the store; `flames annotate export` will", item_id)


def progress(store: Store, project: Project) -> Progress:
    with store.session() as s:
        by_status = dict(
            s.execute(
                select(ItemRow.status, func.count()).where(ItemRow.project_id == project.id).group_by(ItemRow.status)
            ).all()
        )
        by_prov = dict(
            s.execute(
                select(ItemRow.provenance, func.count())
                .where(ItemRow.project_id == project.id, ItemRow.provenance.is_not(None))
                .group_by(ItemRow.provenance)
            ).all()
        )
        by_label = dict(
            s.execute(
                select(LabelRow.status, func.count())
                .join(ItemRow, ItemRow.id == LabelRow.item_id)
                .where(ItemRow.project_id == project.id)
                .group_by(LabelRow.status)
            ).all()
        )
    return Progress(
        sum(by_status.values()),
        by_status.get(ItemStatus.LABELING, 0),
        by_status.get(ItemStatus.ADJUDICATION, 0),
        by_status.get(ItemStatus.DONE, 0),
        by_prov.get(Provenance.UNANIMOUS, 0),
        by_prov.get(Provenance.ADJUDICATED, 0),
        by_prov.get(Provenance.UNRESOLVED, 0),
        by_label.get(LabelStatus.LABELED, 0) + by_label.get(LabelStatus.FLAGGED, 0),
        by_label.get(LabelStatus.FLAGGED, 0),
        by_label.get(LabelStatus.SKIPPED, 0),
    )


def open_for(store: Store, project: Project, user_id: int) -> tuple[int, int]:
    """(answered by the user, items the user could still claim): the annotator's progress line."""
    held = (
        select(func.count())
        .where(LabelRow.item_id == ItemRow.id, LabelRow.slot.is_not(None))
        .correlate(ItemRow)
        .scalar_subquery()
    )
    with store.session() as s:
        answered = s.scalar(
            select(func.count())
            .select_from(LabelRow)
            .join(ItemRow, ItemRow.id == LabelRow.item_id)
            .where(
                ItemRow.project_id == project.id,
                LabelRow.user_id == user_id,
                LabelRow.status.in_([LabelStatus.LABELED, LabelStatus.FLAGGED]),
            )
        )
        available = s.scalar(
            select(func.count())
            .select_from(ItemRow)
            .where(
                ItemRow.project_id == project.id,
                ItemRow.status == ItemStatus.LABELING,
                ~exists().where(LabelRow.item_id == ItemRow.id, LabelRow.user_id == user_id),
                held < project.per_item,
            )
        )
    return int(answered or 0), int(available or 0)
