"""Admin pages: accounts, importing runs or files into projects, exporting labels."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from flames.annotate.auth import User, add_user, list_users, parse_role, set_active
from flames.annotate.errors import AnnotationError
from flames.annotate.export import FORMATS
from flames.annotate.export import render as render_export
from flames.annotate.projects import get_project, import_run, import_source
from flames.annotate.schema import Role
from flames.annotate.web import StoreDep, render, require
from flames.prompts import PromptFileError

router = APIRouter()
Admin = Annotated[User, Depends(require())]
_MEDIA = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, store: StoreDep, user: Admin) -> HTMLResponse:
    return render(request, "users.html", user=user, users=list_users(store), roles=list(Role), message=None)


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    store: StoreDep,
    user: Admin,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=1000)],
    role: Annotated[str, Form()],
) -> HTMLResponse:
    created = add_user(store, username, password, parse_role(role))
    message = f"已创建 Created {created.username} ({created.role.value})"
    return render(request, "users.html", user=user, users=list_users(store), roles=list(Role), message=message)


@router.post("/admin/users/{user_id}/active")
def toggle_user(store: StoreDep, user: Admin, user_id: int, active: Annotated[bool, Form()]) -> RedirectResponse:
    if user_id == user.id:
        raise AnnotationError("you cannot disable your own account; ask another admin")
    set_active(store, user_id, active)
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/import", response_class=HTMLResponse)
def import_page(request: Request, store: StoreDep, user: Admin) -> HTMLResponse:
    return render(request, "import.html", user=user, runs=store.list_runs(), result=None)


@router.post("/admin/import", response_class=HTMLResponse)
def import_submit(
    request: Request,
    store: StoreDep,
    user: Admin,
    project: Annotated[str, Form(min_length=1, max_length=200)],
    per_item: Annotated[int, Form(ge=1, le=10)] = 2,
    run: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    if file is not None and file.filename:
        from flames.official_format import import_official

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(file.filename).name
            path.write_bytes(file.file.read())
            try:
                imported = import_official(store, path, run or None)
            except PromptFileError as err:  # name the user's file, not our temporary copy
                raise AnnotationError(str(err).replace(str(path), path.name)) from err
            result = import_run(store, imported, project.strip(), per_item)
    else:
        result = import_source(store, run, project.strip(), per_item)
    return render(request, "import.html", user=user, runs=store.list_runs(), result=result)


@router.get("/p/{name}/export")
def export(store: StoreDep, user: Admin, name: str, format: str = "jsonl") -> StreamingResponse:
    project = get_project(store, name)
    if format not in FORMATS:
        format = "jsonl"
    filename = quote(f"{project.name}.{format}")
    return StreamingResponse(
        render_export(store, project, format),
        media_type=_MEDIA[format],
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )
