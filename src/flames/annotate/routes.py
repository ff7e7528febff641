"""Pages for everyone signed in: login, project list, labelling, own labels, adjudication, agreement."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flames.annotate import workflow
from flames.annotate.auth import LoginLimiter, User, authenticate, end_sessions, new_csrf_token
from flames.annotate.errors import AnnotationError
from flames.annotate.projects import Project, get_project, list_projects
from flames.annotate.rubric import rubric
from flames.annotate.schema import LabelStatus, Role
from flames.annotate.summary_cache import SummaryCache
from flames.annotate.web import Id, StoreDep, UserDep, render, require

router = APIRouter()
_QUEUE_EMPTY = (
    "没有待标注的条目 Nothing left",
    "这个项目中没有分配给你的条目了。There are no more items for you in this project.",
)
_NOTHING_TO_ADJUDICATE = (
    "没有待裁决的条目 Nothing to adjudicate",
    "目前没有需要你裁决的分歧。No disagreements are waiting for you.",
)
Adjudicator = Annotated[User, Depends(require(Role.ADJUDICATOR))]


def _safe_next(target: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login", response_model=None)
def login(
    request: Request,
    store: StoreDep,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    limiter: LoginLimiter = request.app.state.limiter
    client = request.client.host if request.client else "?"  # the TCP peer, or a configured proxy's X-Forwarded-For
    wait = limiter.retry_after(username, client)
    if wait > 0:
        error = f"登录尝试过多，请 {int(wait) + 1} 秒后再试。Too many failed logins; try again in {int(wait) + 1} s."
        resp = render(request, "login.html", status_code=429, next=_safe_next(next), error=error)
        resp.headers["Retry-After"] = str(int(wait) + 1)
        return resp
    user = authenticate(store, username, password)
    if user is None:
        limiter.failed(username, client)
        error = "用户名或密码错误。Wrong user name or password."
        return render(request, "login.html", status_code=401, next=_safe_next(next), error=error)
    limiter.succeeded(username, client)
    request.session.clear()
    request.session.update(uid=user.id, sv=user.session_version, csrf=new_csrf_token())
    return _see_other(_safe_next(next))


@router.post("/logout")
def logout(request: Request, store: StoreDep, user: UserDep) -> RedirectResponse:
    end_sessions(store, user.id)
    request.session.clear()
    return _see_other("/login")


@router.get("/", response_class=HTMLResponse)
def home(request: Request, store: StoreDep, user: UserDep) -> HTMLResponse:
    projects = [(p, workflow.progress(store, p), workflow.open_for(store, p, user.id)) for p in list_projects(store)]
    return render(request, "home.html", user=user, projects=projects, Role=Role)


def _queue_empty(request: Request, user: User, project: Project) -> HTMLResponse:
    return render(request, "message.html", user=user, project=project, title=_QUEUE_EMPTY[0], message=_QUEUE_EMPTY[1])


def _from_a_browser(request: Request) -> bool:
    """Whether the request came from a browser page or navigation: every current browser (Chrome and Edge 76+,
    Firefox 90+, Safari 16.4+) sends the Fetch Metadata header `Sec-Fetch-Site` with every request; scripts
    and command-line clients (curl, httpx) do not. Source: W3C Fetch Metadata Request Headers."""
    return "sec-fetch-site" in request.headers


@router.get("/p/{name}/next")
def next_item(request: Request, store: StoreDep, user: UserDep, name: str) -> Response:
    """The open assignment; else, in a browser, a button whose POST claims the next item, so that opening a
    link (a cross-site navigation included) never claims anything; else (a script: no Fetch Metadata, so no
    other site can steer it) the claim itself, one open item per annotator as for the POST."""
    project = get_project(store, name)
    label_id = workflow.open_assignment(store, project, user.id)
    if label_id is None and request.method == "GET" and not _from_a_browser(request):
        label_id = workflow.next_assignment(store, project, user.id)
        if label_id is None:
            return _queue_empty(request, user, project)
    if label_id is not None:
        return _see_other(f"/p/{quote(name)}/a/{label_id}")
    answered, available = workflow.open_for(store, project, user.id)
    if not available:
        return _queue_empty(request, user, project)
    return render(request, "next.html", user=user, project=project, answered=answered, available=available)


@router.post("/p/{name}/next")
def claim_next(request: Request, store: StoreDep, user: UserDep, name: str) -> Response:
    project = get_project(store, name)
    label_id = workflow.next_assignment(store, project, user.id)
    if label_id is None:
        return _queue_empty(request, user, project)
    return _see_other(f"/p/{quote(name)}/a/{label_id}")


@router.get("/p/{name}/a/{label_id}", response_class=HTMLResponse)
def annotate_page(request: Request, store: StoreDep, user: UserDep, name: str, label_id: Id) -> HTMLResponse:
    project = get_project(store, name)
    record, _ = workflow.assignment(store, project, label_id, user.id)
    own = next(lab for lab in record.labels if lab.label_id == label_id)
    answered, available = workflow.open_for(store, project, user.id)
    return render(
        request, "annotate.html", user=user, project=project, item=record, label=own,
        pending=own.status == LabelStatus.PENDING, levels=rubric(record.dimension),
        answered=answered, available=available,
    )  # fmt: skip


@router.post("/p/{name}/a/{label_id}")
def annotate_submit(
    store: StoreDep,
    user: UserDep,
    name: str,
    label_id: Id,
    action: Annotated[str, Form()],
    score: Annotated[int | None, Form()] = None,
    explanation: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    advance: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """Answer an assignment; with `advance` (the page's forms send it) also claim the next item and go there."""
    project = get_project(store, name)
    if action == "label":
        if score is None:
            raise AnnotationError("choose a score before submitting")
        workflow.submit(store, project, label_id, user.id, score, explanation)
    elif action == "skip":
        workflow.skip(store, project, label_id, user.id, reason)
    elif action == "flag":
        workflow.flag(store, project, label_id, user.id, reason)
    else:
        raise AnnotationError(f"unknown action {action!r}; expected label, skip or flag")
    following = workflow.next_assignment(store, project, user.id) if advance else None
    return _see_other(f"/p/{quote(name)}/a/{following}" if following else f"/p/{quote(name)}/next")


@router.get("/p/{name}/mine", response_class=HTMLResponse)
def my_labels(request: Request, store: StoreDep, user: UserDep, name: str) -> HTMLResponse:
    project = get_project(store, name)
    rows = workflow.my_labels(store, project, user.id)
    mine = [(r, next(lab for lab in r.labels if lab.label_id == lid)) for r, lid in rows]
    return render(request, "mine.html", user=user, project=project, rows=mine)


@router.get("/p/{name}/adjudicate")
def next_adjudication(request: Request, store: StoreDep, user: Adjudicator, name: str) -> Response:
    project = get_project(store, name)
    item_id = workflow.next_adjudication(store, project, user.id)
    if item_id is None:
        return render(
            request,
            "message.html",
            user=user,
            project=project,
            title=_NOTHING_TO_ADJUDICATE[0],
            message=_NOTHING_TO_ADJUDICATE[1],
        )
    return _see_other(f"/p/{quote(name)}/adj/{item_id}")


@router.get("/p/{name}/adj/{item_id}", response_class=HTMLResponse)
def adjudicate_page(request: Request, store: StoreDep, user: Adjudicator, name: str, item_id: Id) -> HTMLResponse:
    project = get_project(store, name)
    record = workflow.adjudication_item(store, project, item_id, user.id)
    answered = [lab for lab in record.labels if lab.status in (LabelStatus.LABELED, LabelStatus.FLAGGED)]
    return render(request, "adjudicate.html", user=user, project=project, item=record, labels=answered,
                  levels=rubric(record.dimension), progress=workflow.progress(store, project))  # fmt: skip


@router.post("/p/{name}/adj/{item_id}")
def adjudicate_submit(
    store: StoreDep,
    user: Adjudicator,
    name: str,
    item_id: Id,
    decision: Annotated[str, Form()],
    score: Annotated[int | None, Form()] = None,
    note: Annotated[str, Form()] = "",
) -> RedirectResponse:
    project = get_project(store, name)
    if decision == "score":
        if score is None:
            raise AnnotationError("choose a score, or mark the item unresolved with a note")
        workflow.adjudicate(store, project, item_id, user.id, score, note)
    elif decision == "unresolved":
        workflow.adjudicate(store, project, item_id, user.id, None, note)
    else:
        raise AnnotationError(f"unknown decision {decision!r}; expected score or unresolved")
    return _see_other(f"/p/{quote(name)}/adjudicate")


@router.get("/p/{name}/agreement", response_class=HTMLResponse)
def agreement_page(request: Request, store: StoreDep, user: Adjudicator, name: str) -> HTMLResponse:
    cache: SummaryCache = request.app.state.summaries
    project = get_project(store, name)
    return render(request, "agreement.html", user=user, project=project, cached=cache.get(store, project))
