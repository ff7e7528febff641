"""`flames annotate`: the annotation server and its admin commands (users, import, export, status, validate)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flames.annotate.limits import DEFAULT_MAX_BODY, DEFAULT_MAX_IMPORT, MIB
from flames.cli.app import DbOption, app, console, fail, open_store

annotate_app = typer.Typer(
    help="Human annotation: double labelling, adjudication, agreement. 人工标注。", no_args_is_help=True
)
user_app = typer.Typer(help="Annotation accounts. 标注账号。", no_args_is_help=True)
annotate_app.add_typer(user_app, name="user")
app.add_typer(annotate_app, name="annotate")

ProjectOption = Annotated[str, typer.Option("--project", "-p", help="Annotation project name.")]


@annotate_app.command("serve")
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for a team; put HTTPS in front).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    secure_cookies: Annotated[
        bool | None,
        typer.Option(
            "--secure-cookies/--insecure-cookies",
            help="Mark session cookies Secure (HTTPS only). Default: secure unless serving on loopback.",
        ),
    ] = None,
    max_upload: Annotated[
        float, typer.Option(help="Largest request body accepted, in MiB (forms; checked before anything is read).")
    ] = DEFAULT_MAX_BODY / MIB,
    max_import: Annotated[
        float, typer.Option(help="Largest file an admin may upload on the Import page, in MiB.")
    ] = DEFAULT_MAX_IMPORT / MIB,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated addresses of your reverse proxies: only their X-Forwarded-For is believed "
            "(login limits are per client address). Default: none, the TCP peer is the client.",
        ),
    ] = None,
) -> None:
    """Run the annotation web app."""
    from flames.annotate.app import is_loopback
    from flames.annotate.app import serve as run_server

    store = open_store(db)
    console.print(f"annotation server on http://{host}:{port}  (store: {store.safe_url})")
    if secure_cookies is not False and not is_loopback(host):
        console.print(
            "session cookies are Secure: open the app through HTTPS (a reverse proxy in front), "
            "or pass --insecure-cookies on a trusted network"
        )
    if min(max_upload, max_import) <= 0:
        raise fail("--max-upload and --max-import must be positive sizes in MiB")
    run_server(
        store, host, port, secure_cookies, max_body=int(max_upload * MIB), max_import=int(max_import * MIB),
        forwarded_allow_ips=forwarded_allow_ips,
    )  # fmt: skip


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option(help="admin, annotator or adjudicator.")] = "annotator",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Create an account (the password is asked for, or read from stdin; never passed as an argument)."""
    from flames.annotate.auth import add_user, parse_role

    parsed = parse_role(role)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    user = add_user(open_store(db), name, password, parsed)
    console.print(f"created {user.username} ({user.role.value})")


@user_app.command("list")
def user_list(db: DbOption = None) -> None:
    """Accounts with their role and state."""
    from flames.annotate.auth import list_users

    table = Table("user", "role", "active")
    for u in list_users(open_store(db)):
        table.add_row(u.username, u.role.value, "yes" if u.active else "no")
    console.print(table)


@user_app.command("passwd")
def user_passwd(
    name: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    db: DbOption = None,
) -> None:
    """Set a new password (ends that user's sessions)."""
    from flames.annotate.auth import set_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    set_password(open_store(db), name, password)
    console.print(f"password of {name} changed")


@annotate_app.command("import")
def import_(
    source: Annotated[str, typer.Argument(metavar="RUN_OR_FILE", help="A run in the store, or a JSONL/CSV file.")],
    project: ProjectOption,
    per_item: Annotated[int, typer.Option("--per-item", help="Distinct annotators per item.")] = 2,
    run_name: Annotated[
        str | None,
        typer.Option(
            "--run",
            "--run-name",
            help="Name of the run a file is imported as. Default: the file's name, or, when a run of another"
            " file holds that name, the name and a hash of the contents (answers-1a2b3c4d).",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Put a run's responses (or a file's) into a project; re-running adds only new responses."""
    from flames.annotate.projects import import_source

    result = import_source(open_store(db), source, project, per_item, run_name)
    console.print(
        f"project {result.project.name}: {result.added} new items, {result.total} in all "
        f"(run {result.project.run_name}, {result.project.per_item} annotators per item)"
    )


@annotate_app.command("export")
def export(
    project: ProjectOption,
    format: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
    db: DbOption = None,
) -> None:
    """Every item with its final label, provenance and individual labels (official fields first)."""
    from flames.annotate.errors import AnnotationError
    from flames.annotate.export import FORMATS, render
    from flames.annotate.projects import get_project
    from flames.annotate.workflow import publish

    if format not in FORMATS:
        raise AnnotationError(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")
    store = open_store(db)
    proj = get_project(store, project)
    publish(store, proj)
    if out is None:
        for chunk in render(store, proj, format):
            sys.stdout.write(chunk)
        return
    tmp = out.with_name(out.name + ".part")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        f.writelines(render(store, proj, format))
    tmp.replace(out)
    console.print(f"wrote {out}")


@annotate_app.command("status")
def status(project: ProjectOption, db: DbOption = None) -> None:
    """Progress, agreement per dimension and overall (95% bootstrap intervals), per-annotator counts."""
    from flames.annotate.projects import get_project
    from flames.annotate.summary import summarize
    from flames.report.validation import ci
    from flames.taxonomy import bilingual

    store = open_store(db)
    s = summarize(store, get_project(store, project))
    p = s.progress
    console.print(
        f"[bold]{s.project.name}[/] (run {s.project.run_name}, {s.project.per_item} per item): {p.items} items — "
        f"{p.labeling} labelling, {p.adjudication} in adjudication, {p.done} done "
        f"({p.unanimous} unanimous, {p.adjudicated} adjudicated, {p.unresolved} unresolved); "
        f"{p.labels} labels, {p.flagged} flagged, {p.skipped} skipped"
    )
    table = Table("dimension", "items", "agreement", "kappa", "weighted kappa", "alpha (ordinal)", title="agreement")
    rows = [(bilingual(d), a) for d, a in s.by_dimension.items()] + [("overall 总体", s.overall)]
    for name, a in rows:
        table.add_row(
            name, str(a.n_units), ci(a.percent), ci(a.kappa, False), ci(a.weighted_kappa, False), ci(a.alpha, False)
        )
    console.print(table)
    conf = Table("first \\ second", *map(str, s.overall.categories), title="confusion between annotators (overall)")
    for score, row in zip(s.overall.categories, s.overall.confusion, strict=True):
        conf.add_row(str(score), *map(str, row))
    console.print(conf)
    ann = Table("annotator", "scored", "flagged", "skipped", "agrees with final", title="annotators")
    for who in s.annotators:
        agree = f"{100 * who.agree_final:.1f}% of {who.compared}" if who.agree_final is not None else "—"
        ann.add_row(who.annotator, str(who.labeled), str(who.flagged), str(who.skipped), agree)
    console.print(ann)


@annotate_app.command("validate")
def validate(
    project: ProjectOption,
    scorer: Annotated[str, typer.Option("--scorer", help="Scorer of the run to check (name or name@hash).")],
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples (of prompts) for the intervals.")] = 2000,
    db: DbOption = None,
) -> None:
    """A scorer against the project's final human labels: accuracy, κ, confusion… per dimension and model.

    The same figures as `flames scorer validate --labels` on `flames labels import annotation:PROJECT`.
    """
    from flames.annotate.projects import get_project
    from flames.annotate.validation import scorer_vs_human
    from flames.metrics import BootstrapConfig
    from flames.report.validation import print_validation
    from flames.validation import ValidationReport

    store = open_store(db)
    proj = get_project(store, project)
    run = store.get_run(proj.run_name)
    boot = BootstrapConfig(n_boot=n_boot)
    v, n = scorer_vs_human(store, proj, store.resolve_scorer(run, scorer), boot)
    console.print(f"{v.scorer.name} vs human:{proj.name} ({n} final labels)", highlight=False, markup=False)
    print_validation(ValidationReport([v], [], boot, {"path": f"annotation:{proj.name}", "n": n}), console)
