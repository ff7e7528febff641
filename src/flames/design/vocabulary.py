"""Attack methods as data: the open vocabulary that prompt sets, reports and filters use.

Each method has a machine name (`disguise`, `goal_hijacking`: lower case, digits and underscores), Chinese and
English labels and definitions, an example, its provenance and mappings to other taxonomies (e.g. garak
probe modules and tags). The migration seeds FLAMES's and Safety-Prompts's methods; users add their own.

A prompt may use several methods. In prompt files and the run store the field `attack_method` holds them
joined with `+` (`disguise+goal_hijacking`), so reports group each combination; `split_methods` reads it back.
This module is the API other packages (experiments, reports) use for the vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from flames.annotate.errors import AnnotationError, Conflict, NotFound
from flames.design.schema import MethodRow
from flames.store import Store

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,79}")
SEPARATOR = "+"


@dataclass(frozen=True)
class AttackMethod:
    name: str
    label_zh: str
    label_en: str
    definition_zh: str
    definition_en: str
    example: str
    provenance: str
    mappings: dict[str, list[str]]

    @property
    def label(self) -> str:
        """'伪装 Disguise' style label for pages and tables."""
        return f"{self.label_zh} {self.label_en}"


def _method(row: MethodRow) -> AttackMethod:
    maps = {str(k): [str(x) for x in v] for k, v in (row.mappings or {}).items()}
    return AttackMethod(row.name, row.label_zh, row.label_en, row.definition_zh, row.definition_en, row.example,
                        row.provenance, maps)  # fmt: skip


def list_methods(store: Store) -> list[AttackMethod]:
    """Every method, in the order they were added (the seeded ones first)."""
    with store.session() as s:
        return [_method(r) for r in s.scalars(select(MethodRow).order_by(MethodRow.id))]


def parse_mappings(pairs: Iterable[str]) -> dict[str, list[str]]:
    """`["garak=probes.dan", "garak=payload:jailbreak"]` → `{"garak": ["probes.dan", "payload:jailbreak"]}`."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        taxonomy, sep, name = pair.partition("=")
        if not sep or not taxonomy.strip() or not name.strip():
            raise AnnotationError(f"mapping {pair!r} is not TAXONOMY=NAME (e.g. garak=probes.dan)")
        out.setdefault(taxonomy.strip(), []).append(name.strip())
    return out


def add_method(
    store: Store,
    name: str,
    *,
    label_zh: str,
    label_en: str,
    definition_zh: str,
    definition_en: str,
    provenance: str,
    example: str = "",
    mappings: dict[str, list[str]] | None = None,
) -> AttackMethod:
    """Add a method to the vocabulary. Raises AnnotationError for a malformed name or an empty definition,
    Conflict when the name is taken."""
    if not NAME_RE.fullmatch(name):
        raise AnnotationError(
            f"attack method name {name!r}: use lower-case letters, digits and underscores, starting with a letter"
        )
    fields = {"label_zh": label_zh, "label_en": label_en, "definition_zh": definition_zh,
              "definition_en": definition_en, "provenance": provenance}  # fmt: skip
    missing = [k for k, v in fields.items() if not v.strip()]
    if missing:
        raise AnnotationError(f"attack method {name!r} needs {', '.join(missing)}")
    try:
        with store.session() as s, s.begin():
            row = MethodRow(name=name, example=example.strip(), mappings=mappings or {},
                            **{k: v.strip() for k, v in fields.items()})  # fmt: skip
            s.add(row)
            s.flush()
            return _method(row)
    except IntegrityError as err:
        raise Conflict(f"attack method {name!r} already exists") from err


def set_mappings(store: Store, name: str, mappings: dict[str, list[str]]) -> AttackMethod:
    """Replace a method's mappings to other taxonomies (its name and definitions never change)."""
    with store.session() as s, s.begin():
        row = s.scalar(select(MethodRow).where(MethodRow.name == name))
        if row is None:
            raise NotFound(f"unknown attack method {name!r}")
        row.mappings = dict(mappings)
        return _method(row)


def resolve_methods(store: Store, names: Iterable[str], known: set[str] | None = None) -> list[str]:
    """Validate method names (each may itself be a `+`-joined list); return them in order, without repeats.
    `known` saves the vocabulary lookup when validating many rows. Raises NotFound naming the unknown ones."""
    wanted: list[str] = []
    for name in names:
        for part in split_methods(name):
            if part not in wanted:
                wanted.append(part)
    known = {m.name for m in list_methods(store)} if known is None else known
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise NotFound(
            f"unknown attack method(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}."
            " Add one with `flames prompts methods add` (admins) or pick an existing one"
        )
    return wanted


def split_methods(field: str | None) -> list[str]:
    """`"disguise+goal_hijacking"` → `["disguise", "goal_hijacking"]`; None or blank → []."""
    return [p.strip() for p in (field or "").split(SEPARATOR) if p.strip()]


def join_methods(names: Iterable[str]) -> str | None:
    """The `attack_method` field for a list of method names (None for none)."""
    joined = SEPARATOR.join(names)
    return joined or None


def as_dict(method: AttackMethod) -> dict[str, Any]:
    """JSON-ready form (data cards, `flames prompts methods list --format json`)."""
    return {
        "name": method.name, "label_zh": method.label_zh, "label_en": method.label_en,
        "definition_zh": method.definition_zh, "definition_en": method.definition_en, "example": method.example,
        "provenance": method.provenance, "mappings": method.mappings,
    }  # fmt: skip
