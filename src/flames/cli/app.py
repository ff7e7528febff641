"""The root Typer app and options shared by every command.

Light on purpose (see docs/architecture.md, "Command line"): every command module imports this at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperOption

from flames.batch import BatchError
from flames.models.base import BackendError
from flames.rowfiles import PromptFileError
from flames.scorers.base import ScorerError
from flames.store.errors import StoreError

if TYPE_CHECKING:
    from flames.store import Store


def _flags_take_no_value() -> None:
    """Show flags (`--yes`, `--no-scores`, `--help`) without a value type in `--help`.

    typer 0.29's rich help formatter (`typer.rich_utils`, the one every command uses) asks each option for
    its type and prints it, flags included (`--help <bool>`), as if they took a value; its plain formatter
    (`TyperOption.get_help_record`) already leaves flags without one. Applied once, here, so every command
    of every group gets it; tests/core/test_cli_help.py renders all of them.
    """
    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:  # ctx: typer's own click Context
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()

app = typer.Typer(
    name="flames",
    help="FLAMES (Chinese value alignment) evaluation: collect answers, score them, report. 中文价值对齐评测。",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
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
