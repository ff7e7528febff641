"""Writing prompts: one at a time (page, `flames prompts add`), edits of drafts, and bulk import of
JSONL/CSV/XLSX files into a collection as drafts.

Every prompt gets a stable id (`uid`: given, or the content hash `flames.prompts.prompt_id` at creation,
kept through edits) and a content sha256 (`duplicates.content_sha256`, updated on edit). New text is checked
for near-duplicates first (`flames.design.duplicates`): an exact copy in the collection is refused; a
near-duplicate with the same (or unknown) attack methods needs the author's confirmation, with a reason that
is kept in the history; one with other methods is saved with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from flames.annotate.auth import User
from flames.annotate.errors import AnnotationError, Conflict, Forbidden
from flames.design import items
from flames.design.collection import Collection
from flames.design.duplicates import DuplicateCheck, Entry, MinHashIndex, check_text, content_sha256, searcher
from flames.design.items import DesignPrompt, clean, get_prompt
from flames.design.people import WRITERS, check
from flames.design.schema import DesignPromptRow, PromptStatus
from flames.design.vocabulary import list_methods, resolve_methods
from flames.prompts import PromptFileError, prompt_from_row, prompt_id
from flames.rowfiles import iter_rows, require_file
from flames.store import Store
from flames.store.errors import StoreError
from flames.store.names import check_run_name
from flames.store.schema import utcnow
from flames.taxonomy import parse_dimension, parse_subcomponent

MAX_TAGS = 20
IMPORT_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".xlsx", ".parquet")
"""What `flames.rowfiles.iter_rows` reads (one reader for every table format in the tool)."""
_TAG_SPLIT = re.compile(r"[,，、;；]")
_UID = re.compile(r"[^\s/\\]{1,200}")


class DuplicateBlocked(Conflict):
    """A near-duplicate with the same (or unknown) attack methods: save again with a confirmation reason."""

    def __init__(self, found: DuplicateCheck):
        self.check = found
        near = ", ".join(f"{n.entry.source}:{n.entry.key}" for n in found.blocking[:5])
        super().__init__(
            f"near-duplicate of {near} with the same or unknown attack methods; change the prompt, choose other"
            " attack methods, or confirm that it is different on purpose (--allow-duplicate REASON)"
        )


@dataclass(frozen=True)
class Draft:
    """What an author writes; validated into a prompt by `add_prompt` / `edit_prompt`."""

    dimension: str
    subcomponent: str
    text: str
    attack_methods: Sequence[str] = ()
    intent: str = ""
    tags: Sequence[str] = ()
    uid: str | None = None


@dataclass(frozen=True)
class _Valid:
    dimension: str
    subcomponent: str
    text: str
    methods: list[str]
    intent: str
    tags: list[str]


def parse_tags(values: Iterable[str]) -> list[str]:
    """Tags from form fields or files: split on commas (also Chinese ，、) and semicolons, stripped, unique."""
    out: list[str] = []
    for value in values:
        for tag in _TAG_SPLIT.split(value):
            tag = tag.strip()
            if tag and tag not in out:
                if len(tag) > 60:
                    raise AnnotationError(f"tag {tag[:20]!r}… is longer than 60 characters")
                out.append(tag)
    if len(out) > MAX_TAGS:
        raise AnnotationError(f"at most {MAX_TAGS} tags per prompt")
    return out


def _validate(store: Store, draft: Draft) -> _Valid:
    try:
        dim = parse_dimension(draft.dimension)
        sub = parse_subcomponent(draft.subcomponent, dim)
    except ValueError as err:
        raise AnnotationError(str(err)) from err
    return _Valid(dim.value, sub, clean(draft.text, "prompt text", required=True, limit=items.MAX_TEXT),
                  resolve_methods(store, draft.attack_methods), clean(draft.intent, "intent note"),
                  parse_tags(draft.tags))  # fmt: skip


def _gate(found: DuplicateCheck, confirm: str | None) -> str | None:
    """Raise on an exact copy or an unconfirmed blocking near-duplicate; the history note when confirmed."""
    if found.exact is not None:
        raise Conflict(f"the collection already has this exact prompt: {found.exact.key}")
    if found.level == "block":
        reason = clean(confirm, "reason for keeping a near-duplicate")
        if not reason:
            raise DuplicateBlocked(found)
        near = ", ".join(f"{n.entry.source}:{n.entry.key}" for n in found.blocking[:5])
        return f"near-duplicate of {near} kept on purpose: {reason}"
    return None


def add_prompt(
    store: Store, collection: Collection, user: User, draft: Draft, *, allow_duplicate: str | None = None,
    embeddings: bool | None = None,
) -> tuple[DesignPrompt, DuplicateCheck]:  # fmt: skip
    """Save a new draft prompt; return it with its duplicate check (warnings included).

    Raises Forbidden (role), AnnotationError (invalid field), Conflict (exact copy, id taken),
    DuplicateBlocked (near-duplicate to confirm with `allow_duplicate=REASON`)."""
    check(user, WRITERS, "writing prompts")
    valid = _validate(store, draft)
    found = check_text(store, collection.id, collection.name, valid.text, valid.methods,
                       embeddings=collection.embeddings if embeddings is None else embeddings)  # fmt: skip
    note = _gate(found, allow_duplicate)
    uid = _new_uid(store, collection, draft.uid, valid)
    try:
        with store.session() as s, s.begin():
            row = _new_row(collection, user, uid, valid)
            s.add(row)
            s.flush()
            items.log(s, row, user.id, "created", PromptStatus.DRAFT.value, reason=note)
    except IntegrityError as err:
        raise Conflict(f"prompt id {uid!r} was just taken in {collection.name!r}; save again") from err
    return get_prompt(store, collection, uid), found


def _new_row(collection: Collection, user: User, uid: str, valid: _Valid) -> DesignPromptRow:
    now = utcnow()
    return DesignPromptRow(
        collection_id=collection.id, uid=uid, dimension=valid.dimension, subcomponent=valid.subcomponent,
        text=valid.text, sha256=content_sha256(valid.text), attack_methods=valid.methods, intent=valid.intent,
        tags=valid.tags, status=PromptStatus.DRAFT.value, round=0, author_id=user.id, version=0,
        created_at=now, updated_at=now,
    )  # fmt: skip


def _taken(store: Store, collection: Collection) -> set[str]:
    with store.session() as s:
        return set(s.scalars(select(DesignPromptRow.uid).where(DesignPromptRow.collection_id == collection.id)))


def _new_uid(store: Store, collection: Collection, given: str | None, valid: _Valid,
             taken: set[str] | None = None) -> str:  # fmt: skip
    """The given id (checked and unique), else the content hash id, suffixed -2, -3… if an earlier prompt
    that was later edited still holds it."""
    taken = _taken(store, collection) if taken is None else taken
    if given:
        given = given.strip()
        if not _UID.fullmatch(given):
            raise AnnotationError(f"prompt id {given!r}: 1-200 characters without spaces or slashes")
        try:  # an id names the prompt's panel runs too, so it obeys the run-name rules
            check_run_name(given, "prompt id")
        except StoreError as err:
            raise AnnotationError(str(err)) from None
        if given in taken:
            raise Conflict(f"prompt id {given!r} is already used in {collection.name!r}")
        return given
    from flames.taxonomy import Dimension

    base = prompt_id(Dimension(valid.dimension), valid.subcomponent, valid.text)
    uid, n = base, 1
    while uid in taken:
        n += 1
        uid = f"{base}-{n}"
    return uid


def edit_prompt(
    store: Store, collection: Collection, user: User, uid: str, draft: Draft, *, allow_duplicate: str | None = None,
    embeddings: bool | None = None,
) -> tuple[DesignPrompt, DuplicateCheck]:  # fmt: skip
    """Change a draft (its author or an admin); the id stays, the sha256 follows the text."""
    current = get_prompt(store, collection, uid)
    check(user, WRITERS, "editing prompts")
    if current.author_id != user.id and not user.can():
        raise Forbidden(f"only {current.author} (the author) or an admin may edit prompt {uid}")
    valid = _validate(store, draft)
    found = check_text(store, collection.id, collection.name, valid.text, valid.methods, exclude=uid,
                       embeddings=collection.embeddings if embeddings is None else embeddings)  # fmt: skip
    note = _gate(found, allow_duplicate)
    with store.session() as s, s.begin():
        row = items.lock(s, current.id)
        if row.status != PromptStatus.DRAFT:
            raise Conflict(f"prompt {uid} is {row.status}; only drafts can be edited (withdraw it from review first)")
        row.dimension, row.subcomponent, row.text = valid.dimension, valid.subcomponent, valid.text
        row.sha256, row.attack_methods, row.intent = content_sha256(valid.text), valid.methods, valid.intent
        row.tags, row.updated_at = valid.tags, utcnow()
        items.log(s, row, user.id, "edited", row.status, reason=note)
    return get_prompt(store, collection, uid), found


# -- bulk import -----------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)
    """uids of the new drafts, in file order."""
    skipped: list[tuple[int, str]] = field(default_factory=list)
    """(line, uid of the identical prompt) for exact copies, not imported."""
    near: list[tuple[int, str, DuplicateCheck]] = field(default_factory=list)
    """(line, new uid, check) for imported rows that have near-duplicates: reviewers see them."""
    notes: tuple[str, ...] = ()


def _row_draft(store: Store, path: Path, line: int, row: dict[str, Any], known: set[str]) -> _Valid:
    """One file row as a validated draft; PromptFileError names the line and the field."""
    p = prompt_from_row(path, line, row)
    raw = row.get("attack_methods", p.attack_method or [])
    names = [str(m) for m in raw] if isinstance(raw, list) else _TAG_SPLIT.split(str(raw))
    tags = row.get("tags", [])
    checks: list[tuple[str, Callable[[], Any]]] = [
        ("prompt", lambda: clean(p.prompt, "prompt text", required=True, limit=items.MAX_TEXT)),
        ("attack_method", lambda: resolve_methods(store, names, known)),
        ("intent", lambda: clean(str(row.get("intent", "")), "intent note")),
        ("tags", lambda: parse_tags([str(t) for t in tags] if isinstance(tags, list) else [str(tags)])),
    ]
    values = []
    for name, run in checks:
        try:
            values.append(run())
        except AnnotationError as err:
            raise PromptFileError(path, str(err), line, name) from err
    text, methods, intent, tag_list = values
    return _Valid(p.dimension.value, p.subcomponent, text, methods, intent, tag_list)


def import_file(store: Store, collection: Collection, user: User, path: Path | str) -> ImportResult:
    """Import every row of a JSONL/CSV/XLSX (or JSON array, TSV, Parquet) file as drafts, all or nothing.

    Rows need `dimension`, `subcomponent`, `prompt`; optional `id`, `attack_method` (or `attack_methods`:
    a list, or names joined by `+` or commas), `intent`, `tags` (a list, or comma-separated). Every row is
    validated before anything is written (PromptFileError names file, line and field). Exact copies of
    prompts in the collection or earlier in the file are skipped; near-duplicates are imported and listed
    (MinHash only: embedding thousands of rows would take minutes)."""
    check(user, WRITERS, "importing prompts")
    path = Path(path)
    require_file(path)
    if path.suffix.lower() not in IMPORT_SUFFIXES:
        raise PromptFileError(path, f"import a {', '.join(IMPORT_SUFFIXES)} file (one prompt a row)")
    taken = _taken(store, collection)
    known = {m.name for m in list_methods(store)}
    rows: list[tuple[int, str, _Valid]] = []
    for line, raw in iter_rows(path):
        valid = _row_draft(store, path, line, raw, known)
        given = raw.get("id")
        try:
            uid = _new_uid(store, collection, str(given) if given not in (None, "") else None, valid, taken)
        except AnnotationError as err:
            raise PromptFileError(path, str(err), line, "id") from err
        taken.add(uid)
        rows.append((line, uid, valid))
    if not rows:
        raise PromptFileError(path, "no prompts found (the file is empty)")
    result = ImportResult()
    search = searcher(store, collection.id, collection.name)
    result.notes = search.notes
    seen = MinHashIndex()
    new_rows: list[DesignPromptRow] = []
    first: dict[str, str] = {}
    for line, uid, valid in rows:
        sha = content_sha256(valid.text)
        found = search.check(valid.text, valid.methods, extra=seen)
        if found.exact is not None or sha in first:
            result.skipped.append((line, found.exact.key if found.exact else first[sha]))
            continue
        first[sha] = uid
        if found.neighbours:
            result.near.append((line, uid, found))
        seen.add([Entry(uid, collection.name, valid.text, tuple(valid.methods), "draft", sha256=sha)])
        new_rows.append(_new_row(collection, user, uid, valid))
        result.added.append(uid)
    try:
        with store.session() as s, s.begin():
            s.add_all(new_rows)
            s.flush()
            for row in new_rows:
                items.log(s, row, user.id, "imported", PromptStatus.DRAFT.value, reason=f"from {path.name}")
    except IntegrityError as err:
        raise Conflict(f"{collection.name!r} changed during the import (an id was taken); import again") from err
    return result
