"""Review and acceptance: draft → in review → accepted or rejected, with adjudication of disagreements.

- submit (author or admin, draft → in_review): needs the intent note reviewers read; opens a review round.
- review (reviewer, adjudicator or admin; never the author; once per round): accept, or reject with a reason.
  When the collection's `reviewers_required` reviews are in: all accept → accepted; all reject → rejected;
  otherwise → adjudication.
- adjudicate (adjudicator or admin; neither the author nor one of the round's reviewers): accept or reject
  (a rejection needs a reason) → accepted / rejected.
- withdraw (author or admin, in_review or adjudication → draft): to revise; the round's reviews are kept in
  the history but no longer count. reopen (author or admin, rejected → draft): to revise a rejected prompt.
- The optional gate (`require_success`): an accept vote is refused while the prompt's current text has fooled
  no panel model (no answer scored below 3).

Every transition is a row of `dsg_decisions` with who, when, the round, the decision and the reason. Writers
lock the prompt first (`items.lock`), so two reviewers finishing a round at once cannot both miss the last
review or finalise twice. Reviews are blind: `reviews` shows a reviewer only their own until the prompt
leaves review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from flames.annotate.auth import User
from flames.annotate.errors import AnnotationError, Conflict, Forbidden
from flames.annotate.schema import Role
from flames.design import items
from flames.design.collection import Collection
from flames.design.items import DesignPrompt, clean, get_prompt, list_prompts
from flames.design.panel import evidence
from flames.design.people import ADJUDICATORS, REVIEWERS, WRITERS, check, usernames
from flames.design.schema import DecisionRow, DesignPromptRow, PromptStatus
from flames.store import Store
from flames.store.schema import utcnow

Verdict = Literal["accept", "reject"]
_OPEN = (PromptStatus.IN_REVIEW, PromptStatus.ADJUDICATION)


@dataclass(frozen=True)
class Review:
    reviewer: str
    reviewer_id: int
    action: str
    """'reviewed' or 'adjudicated'."""
    decision: str
    reason: str | None
    at: datetime


def reviews(store: Store, prompt: DesignPrompt, viewer: User | None = None) -> list[Review]:
    """The current round's reviews and adjudication. While the prompt is still being reviewed, a viewer who
    is not an adjudicator or admin sees only their own review (reviews are blind); `viewer=None` sees all."""
    names = usernames(store)
    with store.session() as s:
        rows = s.scalars(
            select(DecisionRow)
            .where(DecisionRow.prompt_id == prompt.id, DecisionRow.round == prompt.round,
                   DecisionRow.action.in_(("reviewed", "adjudicated")))
            .order_by(DecisionRow.id)
        )  # fmt: skip
        out = [Review(names.get(r.user_id, "?"), r.user_id, r.action, r.decision or "", r.reason, r.created_at)
               for r in rows]  # fmt: skip
    if viewer is not None and prompt.status == PromptStatus.IN_REVIEW and not viewer.can(*ADJUDICATORS):
        out = [r for r in out if r.reviewer_id == viewer.id]
    return out


def _verdict(decision: str, reason: str | None, *, reason_required_for_reject: bool = True) -> tuple[Verdict, str]:
    if decision not in ("accept", "reject"):
        raise AnnotationError(f"decision must be accept or reject, not {decision!r}")
    note = clean(reason, "reason", required=decision == "reject" and reason_required_for_reject)
    return ("accept" if decision == "accept" else "reject"), note


def _own_or_admin(user: User, prompt: DesignPrompt, what: str) -> None:
    check(user, WRITERS, what)
    if prompt.author_id != user.id and not user.can():
        raise Forbidden(f"{what}: only {prompt.author} (the author) or an admin may do this for prompt {prompt.uid}")


def _gate(store: Store, collection: Collection, prompt: DesignPrompt) -> None:
    if collection.require_success:
        ev = evidence(store, collection, prompt)
        if ev.fooled == 0:
            raise Conflict(
                f"collection {collection.name!r} accepts only prompts that fooled at least one panel model; prompt"
                f" {prompt.uid} fooled none ({ev.scored} scored answers). Try it on the panel, or reject it"
            )


def submit(store: Store, collection: Collection, user: User, uid: str) -> DesignPrompt:
    """Send a draft to review (a new round)."""
    prompt = get_prompt(store, collection, uid)
    _own_or_admin(user, prompt, "submitting for review")
    with store.session() as s, s.begin():
        row = items.lock(s, prompt.id)
        if row.status != PromptStatus.DRAFT:
            raise Conflict(f"prompt {uid} is {row.status}; only drafts can be submitted")
        if not row.intent.strip():
            raise AnnotationError(f"prompt {uid} has no intent note: write why it is adversarial before submitting")
        row.status, row.round, row.reason, row.updated_at = PromptStatus.IN_REVIEW.value, row.round + 1, None, utcnow()
        items.log(s, row, user.id, "submitted", PromptStatus.DRAFT.value)
    return get_prompt(store, collection, uid)


def _back_to_draft(
    store: Store, collection: Collection, user: User, uid: str, allowed: Sequence[str], action: str, what: str,
    which: str,
) -> DesignPrompt:  # fmt: skip
    """Make a prompt whose status is in `allowed` a draft again (its author or an admin), logged as `action`;
    `what` names the act and `which` the prompts it applies to, for errors."""
    prompt = get_prompt(store, collection, uid)
    _own_or_admin(user, prompt, what)
    with store.session() as s, s.begin():
        row = items.lock(s, prompt.id)
        if row.status not in allowed:
            raise Conflict(f"prompt {uid} is {row.status}; only {which}")
        before = row.status
        row.status, row.updated_at = PromptStatus.DRAFT.value, utcnow()
        items.log(s, row, user.id, action, before)
    return get_prompt(store, collection, uid)


def withdraw(store: Store, collection: Collection, user: User, uid: str) -> DesignPrompt:
    """Take a prompt back from review to draft (to revise it)."""
    return _back_to_draft(store, collection, user, uid, _OPEN, "withdrawn", "withdrawing from review",
                          "prompts in review can be withdrawn")  # fmt: skip


def reopen(store: Store, collection: Collection, user: User, uid: str) -> DesignPrompt:
    """Turn a rejected prompt back into a draft (to revise and submit it again)."""
    return _back_to_draft(store, collection, user, uid, (PromptStatus.REJECTED.value,), "reopened",
                          "reopening a rejected prompt", "rejected prompts can be reopened")  # fmt: skip


@dataclass(frozen=True)
class _Step:
    """A deciding step of review: who may take it, and its verb (for messages)."""

    roles: tuple[Role, ...]
    doing: str
    verb: str


_REVIEW = _Step(REVIEWERS, "reviewing", "review")
_ADJUDICATION = _Step(ADJUDICATORS, "adjudicating", "adjudicate")


def _decision(
    store: Store, collection: Collection, user: User, uid: str, decision: str, reason: str | None, step: _Step
) -> tuple[str, str, DesignPrompt]:
    """(verdict, note, prompt) for `user`'s review or adjudication, after the checks both share: one of the
    step's roles, a valid decision, not the prompt's author, and the acceptance gate for an accept. Raises
    Forbidden, AnnotationError or Conflict."""
    check(user, step.roles, f"{step.doing} prompts")
    verdict, note = _verdict(decision, reason)
    prompt = get_prompt(store, collection, uid)
    if prompt.author_id == user.id:
        raise Forbidden(f"{user.username} wrote prompt {uid}; authors do not {step.verb} their own prompts")
    if verdict == "accept":
        _gate(store, collection, prompt)
    return verdict, note, prompt


def _round_reviews(s: Session, row: DesignPromptRow) -> Sequence[Row[int, str | None, str | None]]:
    """(user_id, decision, reason) of each review of the prompt's current round."""
    return s.execute(
        select(DecisionRow.user_id, DecisionRow.decision, DecisionRow.reason).where(
            DecisionRow.prompt_id == row.id, DecisionRow.round == row.round, DecisionRow.action == "reviewed"
        )
    ).all()


def review(
    store: Store, collection: Collection, user: User, uid: str, decision: str, reason: str | None = None
) -> DesignPrompt:
    """Record one reviewer's accept/reject; finalise or send to adjudication when the round is complete."""
    verdict, note, prompt = _decision(store, collection, user, uid, decision, reason, _REVIEW)
    with store.session() as s, s.begin():
        row = items.lock(s, prompt.id)
        if row.status != PromptStatus.IN_REVIEW:
            raise Conflict(f"prompt {uid} is {row.status}, not in review")
        done = _round_reviews(s, row)
        if any(r.user_id == user.id for r in done):
            raise Conflict(f"{user.username} already reviewed prompt {uid} in this round; a review is final")
        if len(done) >= collection.reviewers_required:
            raise Conflict(f"prompt {uid} already has its {collection.reviewers_required} reviews")
        items.log(s, row, user.id, "reviewed", row.status, decision=verdict, reason=note or None)
        votes = [*done, (user.id, verdict, note)]
        if len(votes) == collection.reviewers_required:
            decisions = {v[1] for v in votes}
            before = row.status
            if decisions == {"accept"}:
                row.status, row.reason = PromptStatus.ACCEPTED.value, None
                items.log(s, row, user.id, "accepted", before, reason=f"{len(votes)} reviewers accepted")
            elif decisions == {"reject"}:
                row.status = PromptStatus.REJECTED.value
                row.reason = " / ".join(str(v[2]) for v in votes if v[2])
                items.log(s, row, user.id, "rejected", before, reason=row.reason)
            else:
                row.status = PromptStatus.ADJUDICATION.value
                items.log(s, row, user.id, "to_adjudication", before, reason="reviewers disagree")
            row.updated_at = utcnow()
    return get_prompt(store, collection, uid)


def adjudicate(
    store: Store, collection: Collection, user: User, uid: str, decision: str, reason: str | None = None
) -> DesignPrompt:
    """Settle a disagreement: accept, or reject with a reason."""
    verdict, note, prompt = _decision(store, collection, user, uid, decision, reason, _ADJUDICATION)
    with store.session() as s, s.begin():
        row = items.lock(s, prompt.id)
        if row.status != PromptStatus.ADJUDICATION:
            raise Conflict(f"prompt {uid} is {row.status}; only prompts whose reviewers disagree are adjudicated")
        if user.id in {r.user_id for r in _round_reviews(s, row)}:
            raise Forbidden(f"{user.username} reviewed prompt {uid}; a different person adjudicates")
        row.status = (PromptStatus.ACCEPTED if verdict == "accept" else PromptStatus.REJECTED).value
        row.reason, row.updated_at = (note or None) if verdict == "reject" else None, utcnow()
        items.log(s, row, user.id, "adjudicated", PromptStatus.ADJUDICATION.value, decision=verdict,
                  reason=note or None)  # fmt: skip
    return get_prompt(store, collection, uid)


def review_queue(store: Store, collection: Collection, user: User) -> list[DesignPrompt]:
    """Prompts in review that this user may review now (not theirs, not yet reviewed by them), oldest first."""
    if not user.can(*REVIEWERS):
        return []
    waiting = [p for p in list_prompts(store, collection, PromptStatus.IN_REVIEW) if p.author_id != user.id]
    mine = _reviewed_by(store, user, [p.id for p in waiting])
    return [p for p in waiting if (p.id, p.round) not in mine]


def adjudication_queue(store: Store, collection: Collection, user: User) -> list[DesignPrompt]:
    """Prompts waiting for adjudication that this user may decide."""
    if not user.can(*ADJUDICATORS):
        return []
    waiting = [p for p in list_prompts(store, collection, PromptStatus.ADJUDICATION) if p.author_id != user.id]
    mine = _reviewed_by(store, user, [p.id for p in waiting])
    return [p for p in waiting if (p.id, p.round) not in mine]


def _reviewed_by(store: Store, user: User, prompt_ids: list[int]) -> set[tuple[int, int]]:
    with store.session() as s:
        return {
            (int(pid), int(rnd))
            for pid, rnd in s.execute(
                select(DecisionRow.prompt_id, DecisionRow.round).where(
                    DecisionRow.user_id == user.id, DecisionRow.action == "reviewed",
                    DecisionRow.prompt_id.in_(prompt_ids),
                )
            )
        }  # fmt: skip
