"""The `flames` command line. Each command group lives in its own module and registers itself on `app`.

Start-up rule (docs/architecture.md, "Command line"): importing a command module costs only typer, rich and
light flames modules (taxonomy, records, base protocols, option types). Everything a command does —
the store (SQLAlchemy), numpy, scorers, models, reports — is imported inside the command's function, so
`flames --help` and every command's parsing stay fast. tests/core/test_startup.py enforces it.
"""

from __future__ import annotations

import sys
from importlib import import_module

from flames.cli.app import USER_ERRORS, app, fail, file_error_message

COMMAND_MODULES = (
    "annotate", "compare", "data", "experiment", "generate", "labels", "leaderboard", "prompts", "report", "run",
    "runs", "scale", "score", "scorer", "train",
)  # fmt: skip
"""The modules that register commands on `app` when imported (alphabetical). Add a new group's module here."""

for _name in COMMAND_MODULES:
    import_module(f"flames.cli.{_name}")


def main() -> None:
    try:
        app()
    except USER_ERRORS as err:
        fail(str(err))
        sys.exit(2)
    except OSError as err:
        if err.filename is None:  # not about a path the user named (sockets, ...): keep the traceback
            raise
        fail(file_error_message(err))
        sys.exit(2)
