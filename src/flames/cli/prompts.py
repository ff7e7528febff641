"""`flames prompts`: the prompt design system from the command line — attack methods, collections, the panel,
writing and importing prompts, near-duplicates, tries, review, attack-success statistics and releases.

Everything the web pages do (`flames annotate serve`, pages under /design) is here too. Commands that act as
a person take `--as USER` (or $FLAMES_USER): an account of the annotation app, whose role decides what it
may do. The design modules are imported inside the commands, so `flames --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Column, Table

from flames.cli.app import DbOption, app, console, err_console, open_store
from flames.suggest import flames_command

if TYPE_CHECKING:
    from flames.annotate.auth import User
    from flames.design.collection import Collection
    from flames.design.duplicates import DuplicateCheck
    from flames.design.items import DesignPrompt
    from flames.design.panel import Evidence
    from flames.design.stats import HeatMap
    from flames.store import Store

prompts_app = typer.Typer(
    help="Design prompt sets: write, de-duplicate, try on a panel, review, release. 提示词设计。", no_args_is_help=True
)
methods_app = typer.Typer(help="The attack-method vocabulary. 攻击方法。", no_args_is_help=True)
collection_app = typer.Typer(help="Collections: policy, budget, licence. 提示词集合。", no_args_is_help=True)
panel_app = typer.Typer(help="The panel of models prompts are tried on. 试验模型组。", no_args_is_help=True)
prompts_app.add_typer(methods_app, name="methods")
prompts_app.add_typer(collection_app, name="collection")
prompts_app.add_typer(panel_app, name="panel")
app.add_typer(prompts_app, name="prompts")

AsUser = Annotated[
    str, typer.Option("--as", envvar="FLAMES_USER", help="Your account (see `flames annotate user add`).")
]
CollectionArg = Annotated[str, typer.Argument(metavar="COLLECTION", help="Collection name.")]
PromptIdArg = Annotated[str, typer.Argument(metavar="ID", help="The prompt's id in the collection.")]
Methods = Annotated[
    list[str] | None, typer.Option("--method", "-m", help="Attack method (repeatable); see `flames prompts methods`.")
]
Tags = Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag (repeatable, or comma-separated).")]
Text = Annotated[str | None, typer.Option("--text", help="The prompt text (default: --file, else stdin).")]
TextFile = Annotated[Path | None, typer.Option("--file", help="Read the prompt text from this UTF-8 file.")]
Embeddings = Annotated[
    bool | None,
    typer.Option("--embeddings/--no-embeddings", help="Also search near-duplicates by embedding (default: the"
                 " collection's setting)."),
]  # fmt: skip
Reason = Annotated[str | None, typer.Option("--reason", help="Why (required to reject).")]
Format = Annotated[str, typer.Option("--format", help="table or json.")]


def _user(store: Store, name: str) -> User:
    from flames.design.people import user_named

    return user_named(store, name)


def _collection(store: Store, name: str) -> Collection:
    from flames.design.collection import get_collection

    return get_collection(store, name)


def _read_text(text: str | None, file: Path | None) -> str:
    if text is not None:
        return text
    if file is not None:
        return file.read_text(encoding="utf-8")
    if sys.stdin.isatty():
        err_console.print("prompt text (end with Ctrl-D):")
    return sys.stdin.read()


def _pct(rate: float | None, ci: tuple[float, float] | None = None) -> str:
    if rate is None:
        return "—"
    return f"{100 * rate:.0f}%" + (f" [{100 * ci[0]:.0f}–{100 * ci[1]:.0f}]" if ci else "")


# -- attack methods -----------------------------------------------------------------------------------------


@methods_app.command("list")
def methods_list(db: DbOption = None, format: Format = "table") -> None:
    """The vocabulary: names, labels, definitions, provenance, mappings to other taxonomies."""
    from flames.design.vocabulary import as_dict, list_methods

    methods = list_methods(open_store(db))
    if format == "json":
        sys.stdout.write(json.dumps([as_dict(m) for m in methods], ensure_ascii=False, indent=2) + "\n")
        return
    table = Table("name", "label", "definition", "mappings", "provenance", show_lines=True)
    for m in methods:
        maps = "; ".join(f"{k}: {', '.join(v)}" for k, v in m.mappings.items()) or "—"
        table.add_row(m.name, m.label, escape(f"{m.definition_zh}\n{m.definition_en}"), escape(maps),
                      escape(m.provenance))  # fmt: skip
    console.print(table)


@methods_app.command("add")
def methods_add(
    name: Annotated[str, typer.Argument(help="Machine name: lower case, digits, underscores (e.g. fake_authority).")],
    label_zh: Annotated[str, typer.Option("--label-zh", help="Chinese label.")],
    label_en: Annotated[str, typer.Option("--label-en", help="English label.")],
    definition_zh: Annotated[str, typer.Option("--definition-zh", help="Chinese definition.")],
    definition_en: Annotated[str, typer.Option("--definition-en", help="English definition.")],
    provenance: Annotated[str, typer.Option(help="Where the method comes from (paper, team, ...).")],
    as_: AsUser,
    example: Annotated[str, typer.Option(help="An example prompt.")] = "",
    map_: Annotated[list[str] | None, typer.Option("--map", help="TAXONOMY=NAME, e.g. garak=probes.dan.")] = None,
    db: DbOption = None,
) -> None:
    """Add an attack method (admins)."""
    from flames.design.people import ADMINS, check
    from flames.design.vocabulary import add_method, parse_mappings

    store = open_store(db)
    check(_user(store, as_), ADMINS, "adding attack methods")
    m = add_method(store, name, label_zh=label_zh, label_en=label_en, definition_zh=definition_zh,
                   definition_en=definition_en, provenance=provenance, example=example,
                   mappings=parse_mappings(map_ or []))  # fmt: skip
    console.print(f"added attack method {m.name} ({escape(m.label)})")


@methods_app.command("map")
def methods_map(
    name: str,
    map_: Annotated[list[str], typer.Option("--map", help="TAXONOMY=NAME (repeatable); replaces the mappings.")],
    as_: AsUser,
    db: DbOption = None,
) -> None:
    """Set a method's mappings to other taxonomies (admins), e.g. `--map garak=probes.dan`."""
    from flames.design.people import ADMINS, check
    from flames.design.vocabulary import parse_mappings, set_mappings

    store = open_store(db)
    check(_user(store, as_), ADMINS, "mapping attack methods")
    m = set_mappings(store, name, parse_mappings(map_))
    console.print(f"{m.name}: " + escape(json.dumps(m.mappings, ensure_ascii=False)))


# -- collections and the panel --------------------------------------------------------------------------


Description = Annotated[str | None, typer.Option(help="What the collection is for.")]
Licence = Annotated[str | None, typer.Option(help="Licence of released sets, e.g. CC-BY-4.0.")]
Reviewers = Annotated[int | None, typer.Option("--reviewers", help="Reviewers per prompt, besides its author.")]
Gate = Annotated[
    bool | None,
    typer.Option("--require-success/--no-require-success", help="Accept only prompts that fooled a panel model."),
]
EmbeddingsSetting = Annotated[
    bool | None, typer.Option("--embeddings/--no-embeddings", help="Also search near-duplicates by embedding.")
]
Budget = Annotated[int | None, typer.Option("--budget", help="Most panel requests tries may send in all.")]


@collection_app.command("create")
def collection_create(
    name: str, as_: AsUser, description: Description = None, licence: Licence = None, reviewers: Reviewers = None,
    require_success: Gate = None, embeddings: EmbeddingsSetting = None, budget: Budget = None, db: DbOption = None,
) -> None:  # fmt: skip
    """Create a collection (admins). Defaults: 2 reviewers, no gate, no embeddings, a budget of 0 requests."""
    from flames.design.collection import create_collection

    store = open_store(db)
    c = create_collection(
        store, _user(store, as_), name, description=description or "", licence=licence or "",
        reviewers_required=2 if reviewers is None else reviewers, require_success=bool(require_success),
        embeddings=bool(embeddings), request_budget=budget or 0,
    )  # fmt: skip
    _show_collection(c)


@collection_app.command("set")
def collection_set(
    name: str, as_: AsUser, description: Description = None, licence: Licence = None, reviewers: Reviewers = None,
    require_success: Gate = None, embeddings: EmbeddingsSetting = None, budget: Budget = None, db: DbOption = None,
) -> None:  # fmt: skip
    """Change a collection's settings (admins); options not given are left as they are."""
    from flames.design.collection import update_settings

    store = open_store(db)
    c = update_settings(store, _user(store, as_), name, description=description, licence=licence,
                        reviewers_required=reviewers, require_success=require_success, embeddings=embeddings,
                        request_budget=budget)  # fmt: skip
    _show_collection(c)


@collection_app.command("list")
def collection_list(db: DbOption = None) -> None:
    """Collections with their prompt counts per state and budget."""
    from collections import Counter

    from flames.design.collection import list_collections
    from flames.design.items import list_prompts

    store = open_store(db)
    table = Table("collection", "draft", "in review", "adjudication", "accepted", "rejected", "budget used", "panel")
    for c in list_collections(store):
        n = Counter(p.status.value for p in list_prompts(store, c))
        table.add_row(escape(c.name), *(str(n[s]) for s in ("draft", "in_review", "adjudication", "accepted",
                      "rejected")), f"{c.requests_used}/{c.request_budget}", str(len(c.panel.models)))  # fmt: skip
    console.print(table)


def _show_collection(c: Collection) -> None:
    console.print(
        f"[bold]{escape(c.name)}[/]: {c.reviewers_required} reviewer(s) per prompt,"
        f" gate {'on' if c.require_success else 'off'}, embeddings {'on' if c.embeddings else 'off'},"
        f" budget {c.requests_used}/{c.request_budget} requests used, licence {escape(c.licence or '—')},"
        f" panel: {len(c.panel.models)} model(s)"
    )


@panel_app.command("set")
def panel_set(
    collection: CollectionArg,
    model: Annotated[
        list[str], typer.Option("--model", help="'SPEC [base_url=URL] [api_key_env=NAME] [concurrency=N]' (repeat).")
    ],
    scorer: Annotated[str, typer.Option(help="'flames[:PATH]' or 'judge:MODEL_SPEC [base_url=URL] ...'.")],
    as_: AsUser,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Answer length cap of panel models.")] = 512,
    db: DbOption = None,
) -> None:
    """Set the panel of models prompts are tried on, and its scorer (admins)."""
    from flames.design.collection import parse_panel, update_settings

    store = open_store(db)
    c = update_settings(store, _user(store, as_), collection, panel=parse_panel(model, scorer, max_new_tokens))
    panel_show(collection=c.name, db=db)


@panel_app.command("show")
def panel_show(collection: CollectionArg, db: DbOption = None) -> None:
    """The panel's models and scorer."""
    c = _collection(open_store(db), collection)
    for m in c.panel.models:
        console.print(f"model   {escape(m.line())}")
    console.print(f"scorer  {escape(c.panel.scorer.line()) if c.panel.scorer else '—'}")
    console.print(f"max_new_tokens {c.panel.max_new_tokens}; budget {c.requests_used}/{c.request_budget} used")


# -- writing ------------------------------------------------------------------------------------------------


def _print_check(found: DuplicateCheck) -> None:
    from flames.report.text import excerpt

    for note in found.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}")
    if not found.neighbours:
        console.print("no near-duplicates 无近似重复")
        return
    title = {"warning": "near-duplicates with other attack methods (warning) 近似重复（方法不同）",
             "block": "near-duplicates 近似重复", "exact": "an identical prompt exists 已有相同提示词",
             "none": ""}[found.level]  # fmt: skip
    table = Table("source", "id", "minhash", "embedding", "methods", "status", "text", title=title)
    for n in found.neighbours:
        e = n.entry
        table.add_row(escape(e.source), escape(e.key), f"{n.minhash:.2f}" if n.minhash is not None else "—",
                      f"{n.embedding:.3f}" if n.embedding is not None else "—",
                      escape("+".join(e.methods) or "—") + ("" if not n.same_methods else " (same)"),
                      e.status or "", escape(excerpt(e.text, 60)))  # fmt: skip
    console.print(table)


@prompts_app.command("add")
def add(
    collection: CollectionArg,
    dimension: Annotated[str, typer.Option(help="Fairness, Safety, Morality, Legality or 'Data protection'.")],
    subcomponent: Annotated[str, typer.Option(help="One of the dimension's subcomponents.")],
    as_: AsUser,
    method: Methods = None,
    intent: Annotated[str, typer.Option(help="Why it is adversarial: the note reviewers read.")] = "",
    tag: Tags = None,
    text: Text = None,
    file: TextFile = None,
    id_: Annotated[str | None, typer.Option("--id", help="Stable id (default: a content hash).")] = None,
    allow_duplicate: Annotated[
        str | None, typer.Option(help="Keep a near-duplicate with the same methods; say why it differs.")
    ] = None,
    embeddings: Embeddings = None,
    db: DbOption = None,
) -> None:
    """Write a prompt into a collection as a draft; near-duplicates are shown (and block when they use the same
    attack methods, unless --allow-duplicate)."""
    from flames.design.authoring import Draft, DuplicateBlocked, add_prompt

    store = open_store(db)
    c = _collection(store, collection)
    draft = Draft(dimension, subcomponent, _read_text(text, file), method or [], intent, tag or [], id_)
    try:
        p, found = add_prompt(store, c, _user(store, as_), draft, allow_duplicate=allow_duplicate,
                              embeddings=embeddings)  # fmt: skip
    except DuplicateBlocked as err:
        _print_check(err.check)
        raise
    _print_check(found)
    console.print(f"added draft [bold]{escape(p.uid)}[/] to {escape(c.name)} (sha256 {p.sha256[:16]}…)")


@prompts_app.command("edit")
def edit(
    collection: CollectionArg,
    prompt_id: PromptIdArg,
    as_: AsUser,
    dimension: Annotated[str | None, typer.Option()] = None,
    subcomponent: Annotated[str | None, typer.Option()] = None,
    method: Methods = None,
    intent: Annotated[str | None, typer.Option()] = None,
    tag: Tags = None,
    text: Text = None,
    file: TextFile = None,
    allow_duplicate: Annotated[str | None, typer.Option()] = None,
    embeddings: Embeddings = None,
    db: DbOption = None,
) -> None:
    """Change a draft (its author or an admin); options not given keep their value."""
    from flames.design.authoring import Draft, edit_prompt
    from flames.design.items import get_prompt

    store = open_store(db)
    c = _collection(store, collection)
    old = get_prompt(store, c, prompt_id)
    new_text = text if text is not None else file.read_text(encoding="utf-8") if file is not None else old.text
    draft = Draft(dimension or old.dimension.value, subcomponent or old.subcomponent, new_text,
                  method if method is not None else old.attack_methods, old.intent if intent is None else intent,
                  tag if tag is not None else old.tags)  # fmt: skip
    p, found = edit_prompt(store, c, _user(store, as_), prompt_id, draft, allow_duplicate=allow_duplicate,
                           embeddings=embeddings)  # fmt: skip
    _print_check(found)
    console.print(f"edited {escape(p.uid)} (sha256 {p.sha256[:16]}…)")


_IMPORT_HELP = "JSONL, CSV or XLSX: dimension, subcomponent, prompt, optional id, attack_method, intent, tags."


@prompts_app.command("import")
def import_(
    collection: CollectionArg,
    file: Annotated[Path, typer.Argument(help=_IMPORT_HELP)],
    as_: AsUser,
    db: DbOption = None,
) -> None:
    """Import a file's prompts as drafts (all or nothing; exact copies skipped, near-duplicates listed)."""
    from flames.design.authoring import import_file

    store = open_store(db)
    c = _collection(store, collection)
    r = import_file(store, c, _user(store, as_), file)
    for note in r.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}")
    for line, uid in r.skipped:
        console.print(f"line {line}: skipped, identical to {escape(uid)}")
    for line, uid, found in r.near:
        near = ", ".join(f"{n.entry.source}:{n.entry.key} ({n.minhash:.2f})" for n in found.neighbours[:3]
                         if n.minhash is not None)  # fmt: skip
        console.print(f"line {line}: {escape(uid)} has near-duplicates: {escape(near)}")
    console.print(f"imported {len(r.added)} drafts into {escape(c.name)}; {len(r.skipped)} identical rows skipped,"
                  f" {len(r.near)} with near-duplicates")  # fmt: skip


@prompts_app.command("dupes")
def dupes(
    collection: CollectionArg,
    method: Methods = None,
    text: Text = None,
    file: TextFile = None,
    embeddings: Embeddings = None,
    db: DbOption = None,
) -> None:
    """Near-duplicates of a text in the collection and Flames-1k, without saving anything."""
    from flames.design.duplicates import check_text
    from flames.design.vocabulary import resolve_methods

    store = open_store(db)
    c = _collection(store, collection)
    found = check_text(store, c.id, c.name, _read_text(text, file), resolve_methods(store, method or []),
                       embeddings=c.embeddings if embeddings is None else embeddings)  # fmt: skip
    _print_check(found)


@prompts_app.command("list")
def list_(
    collection: CollectionArg,
    status: Annotated[str | None, typer.Option(help="draft, in_review, adjudication, accepted or rejected.")] = None,
    method: Annotated[str | None, typer.Option(help="Only prompts using this attack method.")] = None,
    format: Annotated[str, typer.Option("--format", help="table or jsonl.")] = "table",
    db: DbOption = None,
) -> None:
    """The collection's prompts."""
    from flames.annotate.errors import AnnotationError
    from flames.design.items import list_prompts
    from flames.design.releases import jsonl_line
    from flames.design.schema import PromptStatus
    from flames.report.text import excerpt

    store = open_store(db)
    try:
        state = PromptStatus(status) if status else None
    except ValueError as err:
        raise AnnotationError(f"--status must be one of {', '.join(s.value for s in PromptStatus)}") from err
    rows = list_prompts(store, _collection(store, collection), state, method)
    if format == "jsonl":
        for p in rows:
            sys.stdout.write(jsonl_line(p) + "\n")
        return
    table = Table("status", "dimension / subcomponent", "methods", "author", "text")
    table.columns.insert(0, Column("id", overflow="fold"))
    for p in rows:
        table.add_row(escape(p.uid), p.status.value, f"{p.dimension.value} / {p.subcomponent}",
                      escape(p.attack_method or "—"), escape(p.author), escape(excerpt(p.text, 50)))  # fmt: skip
    console.print(table)


def _print_evidence(ev: Evidence) -> None:
    from flames.report.text import excerpt

    table = Table("model", "score", "answer", title="panel 模型试验")
    for m in ev.models:
        answer = m.answer if m.answer is not None else f"(failed: {m.failure})" if m.failure else "—"
        score = str(m.score) if m.score is not None else f"unscored: {m.unscored_reason}"
        table.add_row(escape(m.spec), escape(score), escape(excerpt(answer, 80)))
    console.print(table)
    console.print(f"attack success {_pct(ev.attack_success)}: {ev.fooled} of {ev.scored} scored answers below 3;"
                  f" {ev.unscored} without a score")  # fmt: skip
    if ev.last_try and ev.last_try.error:
        err_console.print(f"[yellow]last try:[/] {escape(ev.last_try.error)}")


@prompts_app.command("show")
def show(collection: CollectionArg, prompt_id: PromptIdArg, db: DbOption = None) -> None:
    """A prompt with its near-duplicates, panel answers and full decision history."""
    from flames.design.duplicates import check_text
    from flames.design.items import get_prompt, history
    from flames.design.panel import evidence

    store = open_store(db)
    c = _collection(store, collection)
    p = get_prompt(store, c, prompt_id)
    console.print(f"[bold]{escape(p.uid)}[/] · {p.status.value} · {p.dimension.value} / {p.subcomponent} ·"
                  f" methods {escape(p.attack_method or '—')} · tags {escape(', '.join(p.tags) or '—')} ·"
                  f" author {escape(p.author)} · sha256 {p.sha256[:16]}…")  # fmt: skip
    console.print(escape(p.text), markup=False, highlight=False)
    console.print(f"intent: {escape(p.intent or '—')}")
    _print_check(check_text(store, c.id, c.name, p.text, p.attack_methods, exclude=p.uid, embeddings=c.embeddings))
    _print_evidence(evidence(store, c, p))
    table = Table("when", "who", "action", "round", "decision", "from → to", "reason", title="history 记录")
    for d in history(store, p):
        table.add_row(d.at.strftime("%Y-%m-%d %H:%M"), escape(d.user), d.action, str(d.round), d.decision or "",
                      f"{d.from_status} → {d.to_status}", escape(d.reason or ""))  # fmt: skip
    console.print(table)


# -- panel, review --------------------------------------------------------------------------------------------


@prompts_app.command("try")
def try_(collection: CollectionArg, prompt_id: PromptIdArg, as_: AsUser, db: DbOption = None) -> None:
    """Send the prompt to every panel model (answers stored as runs, resumable), score the answers, show them."""
    from flames.design.panel import try_prompt

    store = open_store(db)
    c = _collection(store, collection)
    ev = try_prompt(store, c, _user(store, as_), prompt_id)
    _print_evidence(ev)
    c = _collection(store, collection)
    console.print(f"budget: {c.requests_used}/{c.request_budget} requests used")


def _transition(name: str, collection: str, prompt_id: str, as_: str, db: str | None) -> DesignPrompt:
    from flames.design import review

    store = open_store(db)
    p: DesignPrompt = getattr(review, name)(store, _collection(store, collection), _user(store, as_), prompt_id)
    console.print(f"{escape(p.uid)}: {p.status.value}")
    return p


@prompts_app.command("submit")
def submit(collection: CollectionArg, prompt_id: PromptIdArg, as_: AsUser, db: DbOption = None) -> None:
    """Send a draft to review (its author or an admin)."""
    _transition("submit", collection, prompt_id, as_, db)


@prompts_app.command("withdraw")
def withdraw(collection: CollectionArg, prompt_id: PromptIdArg, as_: AsUser, db: DbOption = None) -> None:
    """Take a prompt back from review into draft, to revise it."""
    _transition("withdraw", collection, prompt_id, as_, db)


@prompts_app.command("reopen")
def reopen(collection: CollectionArg, prompt_id: PromptIdArg, as_: AsUser, db: DbOption = None) -> None:
    """Turn a rejected prompt back into a draft."""
    _transition("reopen", collection, prompt_id, as_, db)


Decision = Annotated[str, typer.Argument(metavar="accept|reject")]


@prompts_app.command("review")
def review_(
    collection: CollectionArg, prompt_id: PromptIdArg, decision: Decision, as_: AsUser, reason: Reason = None,
    db: DbOption = None,
) -> None:  # fmt: skip
    """Review a prompt in review (reviewers; never your own): accept, or reject with --reason."""
    from flames.design.review import review

    store = open_store(db)
    p = review(store, _collection(store, collection), _user(store, as_), prompt_id, decision, reason)
    console.print(f"{escape(p.uid)}: {p.status.value}")


@prompts_app.command("adjudicate")
def adjudicate_(
    collection: CollectionArg, prompt_id: PromptIdArg, decision: Decision, as_: AsUser, reason: Reason = None,
    db: DbOption = None,
) -> None:  # fmt: skip
    """Settle reviewers' disagreement (adjudicators who did not review it): accept, or reject with --reason."""
    from flames.design.review import adjudicate

    store = open_store(db)
    p = adjudicate(store, _collection(store, collection), _user(store, as_), prompt_id, decision, reason)
    console.print(f"{escape(p.uid)}: {p.status.value}")


@prompts_app.command("queue")
def queue(collection: CollectionArg, as_: AsUser, db: DbOption = None) -> None:
    """Prompts waiting for you: to review, and to adjudicate."""
    from flames.design.review import adjudication_queue, review_queue

    store = open_store(db)
    c, user = _collection(store, collection), _user(store, as_)
    for title, rows in (("to review", review_queue(store, c, user)),
                        ("to adjudicate", adjudication_queue(store, c, user))):  # fmt: skip
        console.print(f"{title}: " + (", ".join(escape(p.uid) for p in rows) or "none"))


# -- statistics and releases --------------------------------------------------------------------------------


def _print_heatmap(hm: HeatMap) -> None:
    title = "attack success 攻击成功率 (fooled/scored, 95% CI)"
    table = Table(hm.by, "all models", *map(escape, hm.models), title=title)
    for row in hm.rows:
        cells = [hm.row_totals[row], *(hm.cell(row, m) for m in hm.models)]
        table.add_row(escape(hm.labels.get(row, row)),
                      *(f"{_pct(c.rate, c.ci)} {c.fooled}/{c.scored}" + (f" +{c.unscored}?" if c.unscored else "")
                        for c in cells))  # fmt: skip
    table.add_section()
    totals = [hm.total, *(hm.model_totals[m] for m in hm.models)]
    table.add_row("all", *(f"{_pct(c.rate, c.ci)} {c.fooled}/{c.scored}" for c in totals))
    console.print(table)
    console.print("+N? = answers without a score (counted apart)")


@prompts_app.command("stats")
def stats(
    prompt_set: Annotated[str, typer.Argument(metavar="SET", help="A collection, a release NAME@VERSION or a file.")],
    by: Annotated[str, typer.Option(help="method, subcomponent, dimension or prompt.")] = "method",
    scorer: Annotated[str | None, typer.Option(help="Scorer name (or name@hash); default: each run's newest.")] = None,
    format: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    db: DbOption = None,
) -> None:
    """Attack success of a prompt set over every scored run in the store: per row (method, subcomponent,
    dimension or prompt) and model, with 95% intervals; unscored answers counted apart."""
    import csv

    from flames.annotate.errors import AnnotationError, NotFound
    from flames.design.items import list_prompts
    from flames.design.stats import BY, attack_stats
    from flames.prompts import load_prompt_set
    from flames.report.text import spreadsheet_row

    if by not in BY:
        raise AnnotationError(f"--by must be one of {', '.join(BY)}")
    store = open_store(db)
    try:
        prompts = [p.as_prompt() for p in list_prompts(store, _collection(store, prompt_set))]
    except NotFound:
        prompts = list(load_prompt_set(prompt_set, db).prompts)
    hm = attack_stats(store, prompts, scorer).heatmap(by)  # type: ignore[arg-type]
    if format == "json":
        sys.stdout.write(json.dumps(hm.as_dict(), ensure_ascii=False, indent=2) + "\n")
    elif format == "csv":
        out = csv.writer(sys.stdout)
        out.writerow([by, "model", "fooled", "scored", "unscored", "attack_success", "ci_low", "ci_high"])
        for row in hm.rows:
            for m in hm.models:
                c = hm.cell(row, m)
                ci = c.ci or (None, None)
                out.writerow(spreadsheet_row([row, m, c.fooled, c.scored, c.unscored, c.rate, ci[0], ci[1]]))
    else:
        _print_heatmap(hm)


@prompts_app.command("release")
def release(
    collection: CollectionArg,
    version: Annotated[str, typer.Option("--version", help="e.g. v1; a version is released once.")],
    as_: AsUser,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the files (default: ./NAME-VERSION).")] = None,
    db: DbOption = None,
) -> None:
    """Freeze the accepted prompts as NAME@VERSION (admins): prompts.jsonl, manifest.json, DATACARD.md."""
    from flames.design.releases import release_collection, write_release

    store = open_store(db)
    r = release_collection(store, _collection(store, collection), _user(store, as_), version)
    folder = out or Path(f"{r.name}-{r.version}")
    for path in write_release(r, folder):
        console.print(f"wrote {escape(str(path))}")
    console.print(f"released [bold]{escape(r.ref)}[/]: {r.manifest['n_prompts']} prompts, sha256 {r.sha256[:16]}…;"
                  f" run it with `{escape(flames_command('run', '--model', 'SPEC', '--prompts', r.ref))}`")  # fmt: skip


@prompts_app.command("releases")
def releases(db: DbOption = None) -> None:
    """Every release in the store."""
    from flames.design.releases import list_releases

    table = Table("release", "prompts", "sha256", "by", "when")
    for r in list_releases(open_store(db)):
        table.add_row(escape(r.ref), str(r.manifest["n_prompts"]), r.sha256[:16] + "…", escape(r.created_by),
                      r.created_at.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    console.print(table)


@prompts_app.command("export")
def export(
    ref: Annotated[str, typer.Argument(metavar="NAME@VERSION")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the files.")],
    db: DbOption = None,
) -> None:
    """Write an existing release's files again (byte for byte as released)."""
    from flames.design.releases import release_by_ref, write_release

    for path in write_release(release_by_ref(open_store(db), ref), out):
        console.print(f"wrote {escape(str(path))}")
