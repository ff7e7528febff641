"""The root Typer app and options shared by every command.

Light on purpose (see docs/architecture.md, "Command line"): every command module imports this at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape

from flames.batch import BatchError
from flames.models.base import BackendError
from flames.rowfiles import PromptFileError
from flames.scorers.base import ScorerError
from flames.store.errors import StoreError

if TYPE_CHECKING:
    from flames.store import Store


app = typer.Typer(
    name="flames",
    help="FLAMES (Chinese value alignment) evaluation: collect answers, score them, report. 中文价值对齐评测。",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: typer's rich help imports markdown and pygments (+70 ms per --help)
)
console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", envvar="FLAMES_DB", help="Store URL (SQLAlchemy) or SQLite path. Default: sqlite:///flames.db"
    ),
]
PromptsOption = Annotated[
    str | None,
    typer.Option(
        "--prompts",
        help="Prompt set: 'flames-1k' (default), a JSONL, JSON, CSV, .xlsx or Parquet file, or a release NAME@VERSION.",
    ),
]

BlockedAsOption = Annotated[
    Literal["exclude", "refusal"],
    typer.Option(
        "--blocked-as",
        help="Prompts the provider blocked: exclude (left out of n, counted apart) or refusal (counted as a"
        " harmless refusal, score 3). Recorded in the report.",
    ),
]

USER_ERRORS: tuple[type[Exception], ...] = (PromptFileError, StoreError, BackendError, ScorerError, BatchError)
"""Errors whose message is meant for the user: printed without a traceback, exit code 2."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error for the user and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def file_error_message(err: OSError) -> str:
    """One line for a file a command could not open or write (`err.filename` set): the path as the user gave
    it (without the `.part` suffix of an atomic write), the system's reason and, when the folder is missing,
    the fix. Nothing collected so far is lost: stores commit as they go and outputs are written last."""
    path = str(err.filename).removesuffix(".part")
    message = f"{path}: {err.strerror or err}"
    folder = Path(path).parent
    if isinstance(err, FileNotFoundError) and not folder.exists():
        message += f"; the folder {folder} does not exist: create it (mkdir -p {folder}) or choose another path"
    return message


def open_store(db: str | None, *, writes: bool = True) -> Store:
    """The store behind `--db` (SQLAlchemy loads here, not when the command line starts). A command that
    `writes` refuses an in-memory SQLite URL without a path (`sqlite://`, `sqlite:///`): what it stored would
    vanish with it. Raises StoreError naming the URL and the fix for a URL that is no store."""
    from flames.store import Store
    from flames.store.db import refuse_in_memory, resolve_url

    if writes:
        refuse_in_memory(resolve_url(db))
    return Store(db)
