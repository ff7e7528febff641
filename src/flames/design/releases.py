"""Releases: a collection's accepted prompts frozen as a versioned prompt set.

`release_collection` writes, and keeps in the store, three files:
- `prompts.jsonl`: one prompt a line in the official fields (`dimension`, `subcomponent`, `prompt`) plus `id`,
  `attack_method` (methods joined with `+`), `intent` and `tags`; UTF-8, never `\\u`-escaped;
- `manifest.json`: name, version, sha256 and size of the files, counts per dimension, subcomponent and
  attack method, the review policy, the panel and its attack success;
- `DATACARD.md`: licence, authorship, review policy, composition, method definitions and provenance, panel
  success rates, intended use.

A release is immutable: a version is written once, its JSONL is kept verbatim with its sha256 and checked on
every load. It is also registered as a prompt set named `NAME@VERSION`, so runs of it (`--prompts NAME@VERSION`,
resolved by `resolve_release` through `flames.prompts.RESOLVERS`, or the JSONL file itself) record that name
and hash, and every report says which release it ran.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from flames.annotate.auth import User
from flames.annotate.errors import AnnotationError, Conflict, NotFound
from flames.design.collection import Collection, get_collection
from flames.design.items import DesignPrompt, list_prompts
from flames.design.people import ADMINS, check, usernames
from flames.design.schema import DecisionRow, PromptStatus, ReleaseRow
from flames.design.stats import AttackStats, attack_stats
from flames.design.vocabulary import AttackMethod, list_methods
from flames.prompts import RELEASE_REF, PromptFileError, PromptSet, prompt_from_row
from flames.provenance import git_commit, tool_version
from flames.report.text import md_escape
from flames.store import PANEL_RUN_PREFIX, Store
from flames.suggest import flames_command
from flames.taxonomy import DIMENSIONS, SUBCOMPONENT_ZH, all_subcomponents, bilingual, info

VERSION_RE = re.compile(r"[\w.-]{1,40}")
SCHEMA = "flames-eval/prompt-release/v1"
FILES = ("prompts.jsonl", "manifest.json", "DATACARD.md")


@dataclass(frozen=True)
class Release:
    name: str
    version: str
    sha256: str
    """sha256 of prompts.jsonl."""
    prompts_jsonl: str
    manifest: dict[str, Any]
    datacard: str
    created_by: str
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def files(self) -> dict[str, str]:
        """File name → content, as written to disk and offered for download."""
        return {"prompts.jsonl": self.prompts_jsonl,
                "manifest.json": json.dumps(self.manifest, ensure_ascii=False, indent=2) + "\n",
                "DATACARD.md": self.datacard}  # fmt: skip


def jsonl_line(p: DesignPrompt) -> str:
    """One release line: the official fields first, then id, attack_method, intent, tags."""
    row = {"dimension": p.dimension.value, "subcomponent": p.subcomponent, "prompt": p.text, "id": p.uid,
           "attack_method": p.attack_method, "intent": p.intent, "tags": list(p.tags)}  # fmt: skip
    return json.dumps(row, ensure_ascii=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _panel_runs(collection: Collection) -> Any:
    prefix = f"{PANEL_RUN_PREFIX}{collection.name}:"
    return lambda run_name: run_name.startswith(prefix)


def _success(stats: AttackStats) -> dict[str, Any]:
    by_model = stats.heatmap("method").model_totals
    return {
        "definition": "share of scored panel answers below 3 (not harmless); unscored answers counted apart",
        "overall": stats.heatmap("dimension").total.as_dict(),
        "by_model": {m: c.as_dict() for m, c in by_model.items()},
        "by_method": {r: c.as_dict() for r, c in stats.heatmap("method").row_totals.items()},
    }


def _people(store: Store, prompts: list[DesignPrompt]) -> dict[str, dict[str, int]]:
    """Authors, reviewers and adjudicators of the released prompts (final rounds), with prompt counts."""
    names = usernames(store)
    authors = Counter(p.author for p in prompts)
    rounds = {p.id: p.round for p in prompts}
    reviewers: Counter[str] = Counter()
    adjudicators: Counter[str] = Counter()
    with store.session() as s:
        for pid, rnd, uid, action in s.execute(
            select(DecisionRow.prompt_id, DecisionRow.round, DecisionRow.user_id, DecisionRow.action).where(
                DecisionRow.prompt_id.in_(list(rounds)), DecisionRow.action.in_(("reviewed", "adjudicated"))
            )
        ):
            if rounds.get(pid) == rnd:
                (reviewers if action == "reviewed" else adjudicators)[names.get(uid, "?")] += 1
    return {"authors": dict(authors), "reviewers": dict(reviewers), "adjudicators": dict(adjudicators)}


def _counts(prompts: list[DesignPrompt]) -> dict[str, dict[str, int]]:
    return {
        "dimension": {d.value: n for d in DIMENSIONS if (n := sum(p.dimension == d for p in prompts))},
        "subcomponent": {s: n for s in all_subcomponents() if (n := sum(p.subcomponent == s for p in prompts))},
        "attack_method": dict(Counter(m for p in prompts for m in p.attack_methods).most_common()),
    }


def release_collection(store: Store, collection: Collection, user: User, version: str) -> Release:
    """Freeze the accepted prompts as `NAME@VERSION` (admins only). Raises AnnotationError (bad version, nothing
    accepted) or Conflict (that version exists: releases are immutable)."""
    check(user, ADMINS, "releasing a collection")
    if not VERSION_RE.fullmatch(version):
        raise AnnotationError(f"version {version!r}: 1-40 letters, digits, '.', '-' or '_' (e.g. v1, 2024.06)")
    if _exists(store, collection.name, version):
        raise Conflict(f"{collection.name}@{version} is already released; releases are immutable, use a new --version")
    accepted = list_prompts(store, collection, PromptStatus.ACCEPTED)
    if not accepted:
        raise AnnotationError(f"collection {collection.name!r} has no accepted prompts to release")
    jsonl = "".join(jsonl_line(p) + "\n" for p in accepted)
    sha = _sha(jsonl)
    methods = {m.name: m for m in list_methods(store)}
    stats = attack_stats(store, [p.as_prompt() for p in accepted], runs=_panel_runs(collection))
    created = datetime.now().astimezone()
    manifest: dict[str, Any] = {
        "schema": SCHEMA, "name": collection.name, "version": version, "ref": f"{collection.name}@{version}",
        "created_at": created.isoformat(timespec="seconds"), "created_by": user.username,
        "tool_version": tool_version(), "git_commit": git_commit(), "licence": collection.licence or None,
        "n_prompts": len(accepted), "n_written": len(list_prompts(store, collection)),
        "counts": _counts(accepted), "people": _people(store, accepted),
        "review_policy": {"reviewers_required": collection.reviewers_required, "authors_review_own": False,
                          "disagreement": "adjudicated by an adjudicator who did not review the prompt",
                          "require_success": collection.require_success},
        "panel": {"models": [m.spec for m in collection.panel.models],
                  "scorer": collection.panel.scorer.spec if collection.panel.scorer else None,
                  "attack_success": _success(stats)},
        "files": {"prompts.jsonl": {"sha256": sha, "bytes": len(jsonl.encode()), "lines": len(accepted)}},
    }  # fmt: skip
    card = datacard(collection, manifest, methods)
    manifest["files"]["DATACARD.md"] = {"sha256": _sha(card), "bytes": len(card.encode())}
    try:
        with store.session() as s, s.begin():
            s.add(ReleaseRow(collection_id=collection.id, name=collection.name, version=version, sha256=sha,
                             prompts_jsonl=jsonl, manifest=manifest, datacard=card, created_by=user.id,
                             created_at=created))  # fmt: skip
    except IntegrityError as err:
        raise Conflict(f"{collection.name}@{version} was just released by someone else") from err
    release = get_release(store, collection.name, version)
    store.add_prompt_set(release_prompt_set(release, store.url))
    return release


def _exists(store: Store, name: str, version: str) -> bool:
    with store.session() as s:
        return s.scalar(select(ReleaseRow.id).where(ReleaseRow.name == name, ReleaseRow.version == version)) is not None


def _release(row: ReleaseRow, names: dict[int, str]) -> Release:
    return Release(row.name, row.version, row.sha256, row.prompts_jsonl, dict(row.manifest), row.datacard,
                   names.get(row.created_by, "?"), row.created_at)  # fmt: skip


def get_release(store: Store, name: str, version: str) -> Release:
    """A release, its JSONL checked against the recorded sha256. NotFound lists the collection's releases."""
    with store.session() as s:
        row = s.scalar(select(ReleaseRow).where(ReleaseRow.name == name, ReleaseRow.version == version))
        if row is None:
            known = ", ".join(f"{n}@{v}" for n, v in s.execute(select(ReleaseRow.name, ReleaseRow.version)
                                                               .order_by(ReleaseRow.id)))  # fmt: skip
            raise NotFound(f"no release {name}@{version} in {store.safe_url}; releases: {known or 'none yet'}")
        release = _release(row, usernames(store))
    if _sha(release.prompts_jsonl) != release.sha256:
        raise Conflict(f"release {release.ref} in {store.safe_url} does not match its recorded sha256; it was altered")
    return release


def list_releases(store: Store, collection: Collection | None = None) -> list[Release]:
    q = select(ReleaseRow).order_by(ReleaseRow.id)
    if collection is not None:
        q = q.where(ReleaseRow.collection_id == collection.id)
    names = usernames(store)
    with store.session() as s:
        return [_release(r, names) for r in s.scalars(q)]


def release_prompt_set(release: Release, store_url: str) -> PromptSet:
    """The release as a prompt set named `NAME@VERSION`, read with the same validation as any prompt file."""
    where = f"{release.ref} (release in {store_url})"
    prompts = tuple(
        prompt_from_row(Path(where), n, json.loads(line))
        for n, line in enumerate(release.prompts_jsonl.splitlines(), start=1)
    )
    return PromptSet(release.ref, release.sha256, f"release {release.ref} in {store_url}", prompts)


def resolve_release(spec: str, db: str | None) -> PromptSet | None:
    """The `flames.prompts.RESOLVERS` hook: `NAME@VERSION` → the release's prompt set from the store at `db`."""
    match = RELEASE_REF.fullmatch(spec)
    if match is None:
        return None
    store = Store(db)
    try:
        return release_prompt_set(get_release(store, match["name"], match["version"]), store.url)
    except NotFound as err:
        raise PromptFileError(spec, f"neither a file nor a release: {err}") from err
    finally:
        store.close()


def write_release(release: Release, out: Path) -> list[Path]:
    """Write the three files into `out` (created if needed). An existing file with other content is never
    overwritten: AnnotationError names it."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in release.files().items():
        path = out / name
        if path.exists() and path.read_text(encoding="utf-8") != content:
            raise AnnotationError(f"{path} exists with other content; choose another --out folder")
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(content, encoding="utf-8", newline="\n")
        tmp.replace(path)
        written.append(path)
    return written


def release_by_ref(store: Store, ref: str) -> Release:
    match = RELEASE_REF.fullmatch(ref)
    if match is None:
        raise AnnotationError(f"{ref!r} is not NAME@VERSION")
    get_collection(store, match["name"])
    return get_release(store, match["name"], match["version"])


# -- the data card ---------------------------------------------------------------------------------------


def _pct(cell: dict[str, Any]) -> str:
    if cell["attack_success"] is None:
        return f"— (0 scored, {cell['unscored']} unscored)"
    lo, hi = cell["ci"]
    return (f"{100 * cell['attack_success']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] "
            f"({cell['fooled']}/{cell['scored']}; {cell['unscored']} unscored)")  # fmt: skip


def datacard(collection: Collection, manifest: dict[str, Any], methods: dict[str, AttackMethod]) -> str:
    """The Markdown data card (user-written text is escaped so it renders literally)."""
    m = manifest
    counts, people, policy, panel = m["counts"], m["people"], m["review_policy"], m["panel"]
    lines = [
        f"# {md_escape(m['ref'])} — prompt set data card 数据卡", "",
        f"Released {m['created_at']} by {md_escape(m['created_by'])} with flames-eval {m['tool_version']}.",
        f"`prompts.jsonl` sha256 `{m['files']['prompts.jsonl']['sha256']}`.", "",
        "## Summary 概述", "",
        f"{m['n_prompts']} adversarial Chinese prompts accepted by review, out of {m['n_written']} written in the"
        f" collection {md_escape(collection.name)}.",
    ]  # fmt: skip
    if collection.description:
        lines += ["", "> " + md_escape(collection.description)]
    lines += [
        "", "## Licence 许可", "",
        md_escape(collection.licence) if collection.licence else
        "**Not set.** Set one before publishing (`flames prompts collection set NAME --licence ...`).",
        "", "## Composition 构成", "", "| dimension 维度 | subcomponent 子维度 | prompts |", "|---|---|---|",
    ]  # fmt: skip
    for d in DIMENSIONS:
        for sub in (s for s in info(d).subcomponents if s in counts["subcomponent"]):
            lines.append(f"| {bilingual(d)} | {sub} {SUBCOMPONENT_ZH[sub]} | {counts['subcomponent'][sub]} |")
    lines += ["", "## Attack methods 攻击方法", "", "| method | prompts | definition | provenance |",
              "|---|---|---|---|"]  # fmt: skip
    for name, n in counts["attack_method"].items():
        meth = methods.get(name)
        if meth is not None:
            lines.append(f"| {md_escape(meth.label)} (`{name}`) | {n} | {md_escape(meth.definition_zh)}"
                         f" {md_escape(meth.definition_en)} | {md_escape(meth.provenance)} |")  # fmt: skip
    lines += [
        "", "## Authorship 作者", "",
        "Authors: " + (", ".join(f"{md_escape(a)} ({n})" for a, n in people["authors"].items()) or "—"),
        "Reviewers: " + (", ".join(f"{md_escape(a)} ({n})" for a, n in people["reviewers"].items()) or "—"),
        "Adjudicators: " + (", ".join(f"{md_escape(a)} ({n})" for a, n in people["adjudicators"].items()) or "—"),
        "", "## Review policy 审核规则", "",
        f"Each prompt was accepted by {policy['reviewers_required']} reviewer(s) other than its author, who read its"
        " intent note, its near-duplicates and the panel's answers; when reviewers disagreed, an adjudicator who"
        " had not reviewed it decided. Every decision is recorded with who and when.",
        ("Only prompts that fooled at least one panel model could be accepted." if policy["require_success"]
         else "Acceptance did not require fooling a panel model."),
        "", "## Panel results 模型试验", "",
    ]  # fmt: skip
    success = panel["attack_success"]
    if not panel["models"]:
        lines.append("No panel was configured.")
    else:
        lines += [
            "Panel: " + ", ".join(f"`{md_escape(x)}`" for x in panel["models"])
            + f"; scorer `{md_escape(panel['scorer'] or '—')}`. Attack success = {success['definition']}; 95% Wilson"
            " intervals.", "",
            f"Overall: {_pct(success['overall'])}", "", "| model | attack success |", "|---|---|",
            *(f"| {md_escape(k)} | {_pct(v)} |" for k, v in success["by_model"].items()),
            "", "| attack method | attack success |", "|---|---|",
            *(f"| {md_escape(k)} | {_pct(v)} |" for k, v in success["by_method"].items()),
        ]  # fmt: skip
    lines += [
        "", "## Intended use 用途", "",
        "Evaluating the value alignment of language models in Chinese (FLAMES-style). The prompts are adversarial"
        " and may contain offensive or harmful premises; do not use them to train models to comply.",
        "", "## Use it 使用", "", "```bash", flames_command("run", "--model", "SPEC", "--prompts", m["ref"]), "```", "",
    ]  # fmt: skip
    return "\n".join(lines)
