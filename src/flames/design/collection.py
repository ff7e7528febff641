"""Collections: a red team's prompts with their panel, request budget and review policy.

The panel is a list of model specs (any spec `flames generate` takes) and a scorer spec, each written as one
line `SPEC [base_url=URL] [api_key_env=NAME] [concurrency=N]`, the same on the settings page and in
`flames prompts panel`. The budget caps the requests tries may send: a try reserves its requests before it
starts (one per panel model without an answer, plus one per answer an LLM judge has not scored) with a single
conditional UPDATE, so concurrent tries can never overspend it; unused reservations are returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flames.annotate.auth import User
from flames.annotate.errors import AnnotationError, Conflict, NotFound
from flames.design.people import ADMINS, check
from flames.design.schema import CollectionRow
from flames.store import Store
from flames.urls import masked_url

NAME_RE = re.compile(r"[\w.-]{1,80}")
MAX_REVIEWERS = 5
_MEMBER_KEYS = {"base_url", "api_key_env", "concurrency"}


@dataclass(frozen=True)
class PanelMember:
    """One model of the panel (or its scorer) and how to reach it."""

    spec: str
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int = 4

    def line(self) -> str:
        """The member as one line of panel configuration (inverse of `parse_member`)."""
        parts = [self.spec]
        parts += [f"base_url={self.base_url}"] if self.base_url else []
        parts += [f"api_key_env={self.api_key_env}"] if self.api_key_env else []
        parts += [f"concurrency={self.concurrency}"] if self.concurrency != PanelMember.concurrency else []
        return " ".join(parts)


@dataclass(frozen=True)
class Panel:
    models: tuple[PanelMember, ...] = ()
    scorer: PanelMember | None = None
    max_new_tokens: int = 512

    def as_dict(self) -> dict[str, Any]:
        return {"models": [m.line() for m in self.models], "scorer": self.scorer.line() if self.scorer else None,
                "max_new_tokens": self.max_new_tokens}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Panel:
        scorer = data.get("scorer")
        return cls(tuple(parse_member(x) for x in data.get("models", [])),
                   parse_member(scorer) if scorer else None, int(data.get("max_new_tokens", 512)))  # fmt: skip


def parse_member(line: str) -> PanelMember:
    """`openai:qwen-plus base_url=https://... api_key_env=DASHSCOPE_API_KEY` → PanelMember; AnnotationError
    names the bad part (a base_url carrying credentials is one: keys go in api_key_env)."""
    spec, *options = line.split()
    member = PanelMember(spec)
    for opt in options:
        key, sep, value = opt.partition("=")
        if not sep or key not in _MEMBER_KEYS or not value:
            raise AnnotationError(
                f"panel line {line!r}: {opt!r} is not one of {', '.join(sorted(k + '=…' for k in _MEMBER_KEYS))}"
            )
        if key == "concurrency":
            if not value.isdigit() or int(value) < 1:
                raise AnnotationError(f"panel line {line!r}: concurrency must be a positive integer")
            member = replace(member, concurrency=int(value))
        elif key == "base_url":
            if masked_url(value) != value:  # the line is stored and shown on the settings page
                raise AnnotationError(
                    f"panel line for {spec}: base_url {masked_url(value)} carries credentials; give the URL without"
                    " them and the key's environment variable as api_key_env=NAME"
                )
            member = replace(member, base_url=value)
        else:
            member = replace(member, api_key_env=value)
    return member


def parse_panel(model_lines: list[str], scorer_line: str | None, max_new_tokens: int = 512) -> Panel:
    """A panel from its lines (blank lines ignored). Model specs are checked now (`KIND:TARGET`), the scorer
    spec too, so a typo is reported when the admin saves, not when an author tries a prompt."""
    from flames.models.base import BackendError
    from flames.models.registry import parse_spec

    models = tuple(parse_member(x) for x in model_lines if x.strip())
    for m in models:
        try:
            parse_spec(m.spec)
        except BackendError as err:
            raise AnnotationError(str(err)) from err
    if len({m.spec for m in models}) != len(models):
        raise AnnotationError("the panel lists the same model spec twice")
    scorer = parse_member(scorer_line) if scorer_line and scorer_line.strip() else None
    if scorer is not None:
        kind = scorer.spec.partition(":")[0]
        if kind not in ("flames", "judge"):
            raise AnnotationError(f"scorer {scorer.spec!r}: use flames[:PATH] or judge:MODEL_SPEC")
    if max_new_tokens < 1:
        raise AnnotationError("max_new_tokens must be at least 1")
    return Panel(models, scorer, max_new_tokens)


@dataclass(frozen=True)
class Collection:
    id: int
    name: str
    description: str
    licence: str
    reviewers_required: int
    require_success: bool
    embeddings: bool
    request_budget: int
    requests_used: int
    panel: Panel = field(default_factory=Panel)

    @property
    def requests_left(self) -> int:
        return max(0, self.request_budget - self.requests_used)


def _collection(row: CollectionRow) -> Collection:
    return Collection(row.id, row.name, row.description, row.licence, row.reviewers_required, row.require_success,
                      row.embeddings, row.request_budget, row.requests_used,
                      Panel.from_dict(row.panel or {}))  # fmt: skip


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise AnnotationError(
            f"collection name {name!r}: use 1-80 letters, digits, '-', '_' or '.' (it becomes the release"
            " name in NAME@VERSION, so no '@', '/' or spaces)"
        )
    return name


def create_collection(
    store: Store, user: User, name: str, *, description: str = "", licence: str = "", reviewers_required: int = 2,
    require_success: bool = False, embeddings: bool = False, request_budget: int = 0,
) -> Collection:  # fmt: skip
    """A new, empty collection (admins only). Raises Conflict when the name is taken."""
    check(user, ADMINS, "creating a collection")
    _check_policy(reviewers_required, request_budget)
    try:
        with store.session() as s, s.begin():
            row = CollectionRow(
                name=check_name(name), description=description.strip(), licence=licence.strip(),
                reviewers_required=reviewers_required, require_success=require_success, embeddings=embeddings,
                request_budget=request_budget, requests_used=0, panel={}, created_by=user.id,
            )  # fmt: skip
            s.add(row)
            s.flush()
            return _collection(row)
    except IntegrityError as err:
        raise Conflict(f"collection {name!r} already exists") from err


def _check_policy(reviewers_required: int, request_budget: int) -> None:
    if not 1 <= reviewers_required <= MAX_REVIEWERS:
        raise AnnotationError(f"reviewers per prompt must be 1 to {MAX_REVIEWERS} (FLAMES-style review uses 2)")
    if request_budget < 0:
        raise AnnotationError("the request budget cannot be negative")


def get_collection(store: Store, name: str) -> Collection:
    with store.session() as s:
        row = s.scalar(select(CollectionRow).where(CollectionRow.name == name))
        if row is None:
            known = ", ".join(s.scalars(select(CollectionRow.name).order_by(CollectionRow.name)))
            hint = f" Known collections: {known}." if known else " Create one with `flames prompts collection create`."
            raise NotFound(f"no prompt collection named {name!r}.{hint}")
        return _collection(row)


def collection_by_id(store: Store, collection_id: int) -> Collection:
    with store.session() as s:
        return _collection(s.get_one(CollectionRow, collection_id))


def list_collections(store: Store) -> list[Collection]:
    with store.session() as s:
        return [_collection(r) for r in s.scalars(select(CollectionRow).order_by(CollectionRow.name))]


def update_settings(
    store: Store, user: User, name: str, *, description: str | None = None, licence: str | None = None,
    reviewers_required: int | None = None, require_success: bool | None = None, embeddings: bool | None = None,
    request_budget: int | None = None, panel: Panel | None = None,
) -> Collection:  # fmt: skip
    """Change a collection's policy, budget or panel (admins only); None leaves a setting as it is.

    The budget is the total allowed; lowering it below what was used stops further tries."""
    check(user, ADMINS, "changing a collection's settings")
    current = get_collection(store, name)
    _check_policy(
        current.reviewers_required if reviewers_required is None else reviewers_required,
        current.request_budget if request_budget is None else request_budget,
    )
    values: dict[str, Any] = {
        "description": description.strip() if description is not None else None,
        "licence": licence.strip() if licence is not None else None,
        "reviewers_required": reviewers_required, "require_success": require_success,
        "embeddings": embeddings, "request_budget": request_budget,
        "panel": panel.as_dict() if panel is not None else None,
    }  # fmt: skip
    values = {k: v for k, v in values.items() if v is not None}
    if values:
        with store.session() as s, s.begin():
            s.execute(update(CollectionRow).where(CollectionRow.id == current.id).values(**values))
    return get_collection(store, name)


def reserve_requests(s: Session, collection_id: int, n: int) -> bool:
    """In the caller's transaction, take `n` requests from the budget if that many are left (atomic: one
    conditional UPDATE, so concurrent tries never overspend)."""
    if n <= 0:
        return True
    done = s.execute(
        update(CollectionRow)
        .where(CollectionRow.id == collection_id, CollectionRow.requests_used + n <= CollectionRow.request_budget)
        .values(requests_used=CollectionRow.requests_used + n)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def refund_requests(store: Store, collection_id: int, n: int) -> None:
    """Give back reserved requests that were not sent."""
    if n > 0:
        with store.session() as s, s.begin():
            s.execute(
                update(CollectionRow)
                .where(CollectionRow.id == collection_id)
                .values(requests_used=CollectionRow.requests_used - n)
            )
