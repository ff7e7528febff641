"""Admin pages: accounts, importing runs or files into projects, exporting labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from starlette.datastructures import UploadFile

from flames.annotate.auth import User, add_user, list_users, parse_role, set_active
from flames.annotate.errors import AnnotationError, NotFound
from flames.annotate.export import FORMATS
from flames.annotate.export import render as render_export
from flames.annotate.projects import ImportResult, get_project, import_run
from flames.annotate.schema import Role
from flames.annotate.security import read_upload, upload_on_disk
from flames.annotate.web import Id, StoreDep, render, require
from flames.store import Store, StoreError
from flames.store.names import check_run_name

router = APIRouter()
Admin = Annotated[User, Depends(require())]
_MEDIA = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}
IMPORT_PATH = "/admin/import"
"""The one streaming upload route; the app gives it its own size limit (`--max-import`)."""


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
def toggle_user(store: StoreDep, user: Admin, user_id: Id, active: Annotated[bool, Form()]) -> RedirectResponse:
    if user_id == user.id:
        raise AnnotationError("you cannot disable your own account; ask another admin")
    set_active(store, user_id, active)
    return RedirectResponse("/admin/users", status_code=303)


@router.get(IMPORT_PATH, response_class=HTMLResponse)
def import_page(request: Request, store: StoreDep, user: Admin) -> HTMLResponse:
    return render(request, "import.html", user=user, runs=store.list_runs(), result=None)


def _import_upload(store: Store, file: UploadFile, project: str, per_item: int, run_name: str | None) -> ImportResult:
    """Import an uploaded results file (JSONL/CSV, official format) into `project` as run `run_name`, by default
    named after the file (`official_format.default_run_name`: a second file of the same name gets its own)."""
    from flames.official_format import import_official

    with upload_on_disk(file) as (path, name):  # recorded under the uploaded file's name, not the temporary copy
        imported = import_official(store, path, run_name, shown_as=name)
    return import_run(store, imported, project, per_item)


@dataclass(frozen=True)
class ImportForm:
    """The import form, checked like the CLI checks its options."""

    project: str
    per_item: int
    run: str
    """A run of the store to import (the list), or ""."""
    run_name: str | None
    """The name an uploaded file's run gets, or None for the default."""


def _import_fields(fields: dict[str, str]) -> ImportForm:
    project = fields.get("project", "").strip()
    if not 1 <= len(project) <= 200:
        raise AnnotationError("a project name of 1-200 characters is required")
    try:
        per_item = int(fields.get("per_item") or 2)
    except ValueError as err:
        raise AnnotationError(f"annotators per item must be a whole number, got {fields['per_item']!r}") from err
    if not 1 <= per_item <= 10:
        raise AnnotationError(f"annotators per item must be between 1 and 10, got {per_item}")
    run_name = fields.get("run_name", "").strip() or None
    if run_name is not None:
        try:
            check_run_name(run_name)
        except StoreError as err:
            raise AnnotationError(str(err)) from err
    return ImportForm(project, per_item, fields.get("run", "").strip(), run_name)


@router.post(IMPORT_PATH, response_class=HTMLResponse)
async def import_submit(request: Request, store: StoreDep, user: Admin) -> HTMLResponse:
    """Import a run of the store (chosen from the list) or an uploaded file into a project. Paths on the
    server are never read from the web: that stays a CLI feature (`flames annotate import PATH`). The body is
    read only now, after the admin check, and a file streams to a temporary file within the import limit."""
    upload = await read_upload(request)
    try:
        form = _import_fields(upload.fields)
        if upload.file is not None and upload.file.filename:
            if form.run:
                raise AnnotationError("choose a run from the list or upload a file, not both")
            result = await run_in_threadpool(
                _import_upload, store, upload.file, form.project, form.per_item, form.run_name
            )
        elif form.run_name is not None:
            raise AnnotationError("a run name names the run an uploaded file becomes; upload a file, or leave it empty")
        elif not form.run:
            raise AnnotationError("choose a run from the list, or upload a file")
        elif not store.has_run(form.run):
            raise NotFound(f"no run named {form.run!r} in the store; choose one from the list")
        else:
            result = await run_in_threadpool(import_run, store, store.get_run(form.run), form.project, form.per_item)
    finally:
        if upload.file is not None:
            await upload.file.close()
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
