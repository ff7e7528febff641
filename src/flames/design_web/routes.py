"""Pages of the prompt design system: collections, writing (with the near-duplicate check), import, a prompt
with its panel answers and history, review and adjudication, attack-success heat maps, settings, releases.

Everything shown that a person or a model wrote is escaped by Jinja's autoescape; no page runs inline script
(the app's Content-Security-Policy forbids it), so a try in progress refreshes with a meta refresh.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile

from flames.annotate.auth import User
from flames.annotate.errors import AnnotationError, NotFound
from flames.annotate.security import read_upload, upload_on_disk
from flames.annotate.web import TEMPLATES as ANNOTATE_TEMPLATES
from flames.annotate.web import StoreDep, render, require
from flames.design import review as rv
from flames.design.authoring import Draft, DuplicateBlocked, ImportResult, add_prompt, edit_prompt, import_file
from flames.design.collection import Collection, get_collection, list_collections, parse_panel, update_settings
from flames.design.collection import create_collection as create
from flames.design.duplicates import DuplicateCheck, check_text
from flames.design.items import DesignPrompt, get_prompt, history, list_prompts
from flames.design.panel import evidence, run_try, start_try
from flames.design.people import ADJUDICATORS, ADMINS, REVIEWERS, WRITERS
from flames.design.releases import list_releases, release_by_ref, release_collection, release_prompt_set
from flames.design.schema import PromptStatus
from flames.design.stats import BY, By, attack_stats
from flames.design.vocabulary import add_method, list_methods, parse_mappings
from flames.store import Store
from flames.taxonomy import DIMENSIONS, dimension_of, info

HERE = Path(__file__).parent
_base = ANNOTATE_TEMPLATES.env.loader
assert _base is not None
_env = ANNOTATE_TEMPLATES.env.overlay(loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(HERE / "templates"), _base]))
_env.globals = {**_env.globals, "DIMENSIONS": DIMENSIONS, "info": info, "Status": PromptStatus}
TEMPLATES = Jinja2Templates(env=_env)
router = APIRouter(prefix="/design")
Writer = Annotated[User, Depends(require(*WRITERS))]
Reviewer = Annotated[User, Depends(require(*REVIEWERS))]
Adjudicator = Annotated[User, Depends(require(*ADJUDICATORS))]
Admin = Annotated[User, Depends(require(*ADMINS))]
_MEDIA = {"prompts.jsonl": "application/x-ndjson", "manifest.json": "application/json", "DATACARD.md": "text/markdown"}


def page(request: Request, name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    return render(request, name, status_code=status_code, templates=TEMPLATES, **context)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _url(c: Collection, *parts: str) -> str:
    return "/".join([f"/design/c/{quote(c.name, safe='')}", *(quote(p, safe="") for p in parts)])


@router.get("/static/design.css")
def stylesheet() -> FileResponse:
    return FileResponse(HERE / "static" / "design.css", media_type="text/css")


# -- collections and methods ------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def home(request: Request, store: StoreDep, user: Writer) -> HTMLResponse:
    rows = []
    for c in list_collections(store):
        prompts = list_prompts(store, c)
        counts = {s: sum(p.status == s for p in prompts) for s in PromptStatus}
        rows.append((c, counts, len(rv.review_queue(store, c, user)), len(rv.adjudication_queue(store, c, user))))
    return page(request, "design/home.html", user=user, rows=rows)


@router.post("/collections")
def create_collection(
    store: StoreDep,
    user: Admin,
    name: Annotated[str, Form(max_length=80)],
    description: Annotated[str, Form(max_length=4000)] = "",
    licence: Annotated[str, Form(max_length=200)] = "",
    budget: Annotated[int, Form(ge=0)] = 0,
) -> RedirectResponse:
    c = create(store, user, name.strip(), description=description, licence=licence, request_budget=budget)
    return _see_other(_url(c, "settings"))


@router.get("/methods", response_class=HTMLResponse)
def methods(request: Request, store: StoreDep, user: Writer) -> HTMLResponse:
    return page(request, "design/methods.html", user=user, methods=list_methods(store))


@router.post("/methods")
def new_method(
    store: StoreDep,
    user: Admin,
    name: Annotated[str, Form(max_length=80)],
    label_zh: Annotated[str, Form(max_length=200)],
    label_en: Annotated[str, Form(max_length=200)],
    definition_zh: Annotated[str, Form(max_length=4000)],
    definition_en: Annotated[str, Form(max_length=4000)],
    provenance: Annotated[str, Form(max_length=2000)],
    example: Annotated[str, Form(max_length=4000)] = "",
    mappings: Annotated[str, Form(max_length=4000)] = "",
) -> RedirectResponse:
    add_method(store, name.strip(), label_zh=label_zh, label_en=label_en, definition_zh=definition_zh,
               definition_en=definition_en, provenance=provenance, example=example,
               mappings=parse_mappings(mappings.split()))  # fmt: skip
    return _see_other("/design/methods")


@router.get("/c/{name}", response_class=HTMLResponse)
def collection_page(
    request: Request, store: StoreDep, user: Writer, name: str, status: str = "", method: str = ""
) -> HTMLResponse:
    c = get_collection(store, name)
    state = PromptStatus(status) if status in {s.value for s in PromptStatus} else None
    prompts = list_prompts(store, c, state, method or None)
    return page(request, "design/collection.html", user=user, c=c, prompts=prompts, status=status, method=method,
                methods=list_methods(store), to_review=rv.review_queue(store, c, user),
                to_adjudicate=rv.adjudication_queue(store, c, user))  # fmt: skip


# -- writing ------------------------------------------------------------------------------------------------


def _form_page(
    request: Request, store: StoreDep, user: User, c: Collection, *, draft: Draft | None = None,
    prompt: DesignPrompt | None = None, found: DuplicateCheck | None = None, error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return page(request, "design/write.html", status_code=status_code, user=user, c=c, draft=draft, prompt=prompt,
                found=found, error=error, methods=list_methods(store))  # fmt: skip


def _draft(subcomponent: str, text: str, method: list[str], intent: str, tags: str, uid: str = "") -> Draft:
    try:
        dimension = dimension_of(subcomponent).value
    except KeyError as err:
        raise AnnotationError(f"unknown subcomponent {subcomponent!r}") from err
    return Draft(dimension, subcomponent, text, method, intent, [tags], uid.strip() or None)


@router.get("/c/{name}/write", response_class=HTMLResponse)
def write_page(request: Request, store: StoreDep, user: Writer, name: str) -> HTMLResponse:
    return _form_page(request, store, user, get_collection(store, name))


Subcomponent = Annotated[str, Form(max_length=80)]
PromptText = Annotated[str, Form(max_length=20_000)]
MethodsField = Annotated[list[str], Form()]
Note = Annotated[str, Form(max_length=8000)]


@router.post("/c/{name}/write", response_model=None)
def write_submit(
    request: Request, store: StoreDep, user: Writer, name: str, subcomponent: Subcomponent, text: PromptText,
    action: Annotated[str, Form()] = "check", method: MethodsField = [], intent: Note = "",  # noqa: B006
    tags: Note = "", uid: Annotated[str, Form(max_length=200)] = "", confirm: Note = "",
) -> Response:  # fmt: skip
    """`action=check` shows the near-duplicates and keeps the form; `action=save` saves (a blocking
    near-duplicate needs `confirm`, the reason it is kept)."""
    c = get_collection(store, name)
    draft: Draft | None = None
    try:
        draft = _draft(subcomponent, text, method, intent, tags, uid)
        if action != "save":
            found = check_text(store, c.id, c.name, draft.text.strip(), draft.attack_methods, embeddings=c.embeddings)
            return _form_page(request, store, user, c, draft=draft, found=found)
        saved, _ = add_prompt(store, c, user, draft, allow_duplicate=confirm or None)
    except DuplicateBlocked as err:
        return _form_page(request, store, user, c, draft=draft, found=err.check, error=str(err), status_code=409)
    except AnnotationError as err:
        return _form_page(request, store, user, c, draft=draft, error=str(err), status_code=err.status_code)
    return _see_other(_url(c, "p", saved.uid))


@router.get("/c/{name}/p/{uid}/edit", response_class=HTMLResponse)
def edit_page(request: Request, store: StoreDep, user: Writer, name: str, uid: str) -> HTMLResponse:
    c = get_collection(store, name)
    p = get_prompt(store, c, uid)
    draft = Draft(p.dimension.value, p.subcomponent, p.text, p.attack_methods, p.intent, [", ".join(p.tags)], p.uid)
    return _form_page(request, store, user, c, draft=draft, prompt=p)


@router.post("/c/{name}/p/{uid}/edit", response_model=None)
def edit_submit(
    request: Request, store: StoreDep, user: Writer, name: str, uid: str, subcomponent: Subcomponent,
    text: PromptText, method: MethodsField = [], intent: Note = "", tags: Note = "", confirm: Note = "",  # noqa: B006
) -> Response:  # fmt: skip
    c = get_collection(store, name)
    p = get_prompt(store, c, uid)
    draft: Draft | None = None
    try:
        draft = _draft(subcomponent, text, method, intent, tags)
        edit_prompt(store, c, user, uid, draft, allow_duplicate=confirm or None)
    except DuplicateBlocked as err:
        return _form_page(request, store, user, c, draft=draft, prompt=p, found=err.check, error=str(err),
                          status_code=409)  # fmt: skip
    except AnnotationError as err:
        return _form_page(request, store, user, c, draft=draft, prompt=p, error=str(err),
                          status_code=err.status_code)  # fmt: skip
    return _see_other(_url(c, "p", uid))


@router.get("/c/{name}/import", response_class=HTMLResponse)
def import_page(request: Request, store: StoreDep, user: Writer, name: str) -> HTMLResponse:
    return page(request, "design/import.html", user=user, c=get_collection(store, name), result=None)


IMPORT_PATH = "/design/c/{name}/import"
"""A streaming upload route: the app gives it the import's own size limit, and the file is read only after
the writer check (`read_upload`), never by FastAPI before it."""


def _import_upload(store: Store, c: Collection, user: User, file: UploadFile) -> ImportResult:
    with upload_on_disk(file) as (path, _):  # content errors become 400s naming the user's file
        return import_file(store, c, user, path)


@router.post("/c/{name}/import", response_class=HTMLResponse)
async def import_submit(request: Request, store: StoreDep, user: Writer, name: str) -> HTMLResponse:
    c = get_collection(store, name)
    upload = await read_upload(request)
    try:
        if upload.file is None or not upload.file.filename:
            raise AnnotationError("choose a file to upload")
        result = await run_in_threadpool(_import_upload, store, c, user, upload.file)
    finally:
        if upload.file is not None:
            await upload.file.close()
    return page(request, "design/import.html", user=user, c=c, result=result)


# -- one prompt: evidence, tries, review ------------------------------------------------------------------


@router.get("/c/{name}/p/{uid}", response_class=HTMLResponse)
def prompt_page(request: Request, store: StoreDep, user: Writer, name: str, uid: str) -> HTMLResponse:
    c = get_collection(store, name)
    p = get_prompt(store, c, uid)
    ev = evidence(store, c, p)
    queue = {q.id for q in rv.review_queue(store, c, user)}
    adjudicable = {q.id for q in rv.adjudication_queue(store, c, user)}
    return page(
        request, "design/prompt.html", user=user, c=c, p=p, ev=ev, history=history(store, p),
        found=check_text(store, c.id, c.name, p.text, p.attack_methods, exclude=p.uid, embeddings=c.embeddings),
        reviews=rv.reviews(store, p, user), can_review=p.id in queue, can_adjudicate=p.id in adjudicable,
        owner=p.author_id == user.id or user.can(*ADMINS),
        running=ev.last_try is not None and ev.last_try.status == "running",
    )  # fmt: skip


def _run_in_background(store: Store, try_id: int) -> None:
    threading.Thread(target=run_try, args=(store, try_id), name=f"try-{try_id}", daemon=True).start()


@router.post("/c/{name}/p/{uid}/try")
def try_submit(store: StoreDep, user: Writer, name: str, uid: str) -> RedirectResponse:
    c = get_collection(store, name)
    _run_in_background(store, start_try(store, c, user, uid))
    return _see_other(_url(c, "p", uid))


@router.post("/c/{name}/p/{uid}/state")
def state_submit(
    store: StoreDep, user: Writer, name: str, uid: str, action: Annotated[str, Form()]
) -> RedirectResponse:
    """submit / withdraw / reopen."""
    c = get_collection(store, name)
    if action not in ("submit", "withdraw", "reopen"):
        raise AnnotationError(f"unknown action {action!r}; expected submit, withdraw or reopen")
    getattr(rv, action)(store, c, user, uid)
    return _see_other(_url(c, "p", uid))


@router.post("/c/{name}/p/{uid}/review")
def review_submit(
    store: StoreDep, user: Reviewer, name: str, uid: str, decision: Annotated[str, Form()], reason: Note = ""
) -> RedirectResponse:
    c = get_collection(store, name)
    rv.review(store, c, user, uid, decision, reason)
    return _see_other(_url(c, "review"))


@router.post("/c/{name}/p/{uid}/adjudicate")
def adjudicate_submit(
    store: StoreDep, user: Adjudicator, name: str, uid: str, decision: Annotated[str, Form()], reason: Note = ""
) -> RedirectResponse:
    c = get_collection(store, name)
    rv.adjudicate(store, c, user, uid, decision, reason)
    return _see_other(_url(c, "adjudicate"))


@router.get("/c/{name}/review", response_model=None)
def next_review(request: Request, store: StoreDep, user: Reviewer, name: str) -> Response:
    c = get_collection(store, name)
    waiting = rv.review_queue(store, c, user)
    if waiting:
        return _see_other(_url(c, "p", waiting[0].uid))
    message = "这个集合中没有等你审核的提示词。No prompts in this collection are waiting for your review."
    return page(request, "message.html", user=user, title="没有待审核的提示词 Nothing to review", message=message)


@router.get("/c/{name}/adjudicate", response_model=None)
def next_adjudication(request: Request, store: StoreDep, user: Adjudicator, name: str) -> Response:
    c = get_collection(store, name)
    waiting = rv.adjudication_queue(store, c, user)
    if waiting:
        return _see_other(_url(c, "p", waiting[0].uid))
    return page(request, "message.html", user=user, title="没有待裁决的提示词 Nothing to adjudicate",
                message="目前没有需要你裁决的分歧。No disagreements are waiting for you.")  # fmt: skip


# -- statistics --------------------------------------------------------------------------------------------


def _stats_prompts(store: Store, c: Collection, release: str) -> list[Any]:
    if release:
        r = release_by_ref(store, f"{c.name}@{release}")
        return list(release_prompt_set(r, store.url).prompts)
    return [p.as_prompt() for p in list_prompts(store, c)]


def _by(by: str) -> By:
    for b in BY:
        if b == by:
            return b
    return "method"


@router.get("/c/{name}/stats", response_class=HTMLResponse)
def stats_page(
    request: Request, store: StoreDep, user: Writer, name: str, by: str = "method", release: str = "",
    scorer: str = "",
) -> HTMLResponse:  # fmt: skip
    c = get_collection(store, name)
    stats = attack_stats(store, _stats_prompts(store, c, release), scorer or None)
    labels = {m.name: m.label for m in list_methods(store)} if by == "method" else {}
    return page(request, "design/stats.html", user=user, c=c, hm=stats.heatmap(_by(by)), by=_by(by), BY=BY,
                release=release, scorer=scorer, releases=list_releases(store, c), labels=labels)  # fmt: skip


@router.get("/c/{name}/stats/answers", response_class=HTMLResponse)
def stats_answers(
    request: Request, store: StoreDep, user: Writer, name: str, row: str, by: str = "method", model: str = "",
    release: str = "", scorer: str = "",
) -> HTMLResponse:  # fmt: skip
    c = get_collection(store, name)
    stats = attack_stats(store, _stats_prompts(store, c, release), scorer or None)
    answers = stats.drill(_by(by), row, model or None)
    return page(request, "design/answers.html", user=user, c=c, answers=answers, row=row, model=model, by=_by(by),
                release=release)  # fmt: skip


# -- settings and releases (admins) ----------------------------------------------------------------------------


@router.get("/c/{name}/settings", response_class=HTMLResponse)
def settings_page(request: Request, store: StoreDep, user: Writer, name: str) -> HTMLResponse:
    return page(request, "design/settings.html", user=user, c=get_collection(store, name), error=None)


@router.post("/c/{name}/settings", response_class=HTMLResponse)
def settings_submit(
    request: Request, store: StoreDep, user: Admin, name: str,
    reviewers: Annotated[int, Form(ge=1, le=5)], budget: Annotated[int, Form(ge=0)],
    models: Annotated[str, Form(max_length=8000)] = "", scorer: Annotated[str, Form(max_length=1000)] = "",
    max_new_tokens: Annotated[int, Form(ge=1, le=32768)] = 512, description: Note = "",
    licence: Annotated[str, Form(max_length=200)] = "", require_success: Annotated[bool, Form()] = False,
    embeddings: Annotated[bool, Form()] = False,
) -> HTMLResponse:  # fmt: skip
    try:
        panel = parse_panel(models.splitlines(), scorer, max_new_tokens)
        c = update_settings(store, user, name, description=description, licence=licence, reviewers_required=reviewers,
                            require_success=require_success, embeddings=embeddings, request_budget=budget,
                            panel=panel)  # fmt: skip
    except AnnotationError as err:
        return page(request, "design/settings.html", status_code=err.status_code, user=user,
                    c=get_collection(store, name), error=str(err))  # fmt: skip
    return page(request, "design/settings.html", user=user, c=c, error=None, saved=True)


@router.get("/c/{name}/releases", response_class=HTMLResponse)
def releases_page(request: Request, store: StoreDep, user: Writer, name: str) -> HTMLResponse:
    c = get_collection(store, name)
    return page(request, "design/releases.html", user=user, c=c, releases=list_releases(store, c),
                accepted=len(list_prompts(store, c, PromptStatus.ACCEPTED)))  # fmt: skip


@router.post("/c/{name}/releases")
def release_submit(
    store: StoreDep, user: Admin, name: str, version: Annotated[str, Form(max_length=40)]
) -> RedirectResponse:
    c = get_collection(store, name)
    release_collection(store, c, user, version.strip())
    return _see_other(_url(c, "releases"))


@router.get("/c/{name}/releases/{version}/{filename}")
def release_file(store: StoreDep, user: Writer, name: str, version: str, filename: str) -> Response:
    files = release_by_ref(store, f"{name}@{version}").files()
    if filename not in files:
        raise NotFound(f"a release has the files {', '.join(files)}")
    disposition = f"attachment; filename*=UTF-8''{quote(f'{name}-{version}-{filename}')}"
    return Response(files[filename].encode(), media_type=f"{_MEDIA[filename]}; charset=utf-8",
                    headers={"Content-Disposition": disposition})  # fmt: skip
