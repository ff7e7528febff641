"""The `flames` command line. Each command group lives in its own module and registers itself on `app`.

Modules import heavy dependencies (torch, transformers, fastapi) inside their commands, so that
`flames --help` and light commands start fast.
"""

from __future__ import annotations

import sys

from flames.cli import (  # noqa: F401  (each module registers its commands)
    annotate,
    compare,
    data,
    generate,
    labels,
    leaderboard,
    prompts,
    report,
    run,
    runs,
    scale,
    score,
    scorer,
    train,
)
from flames.cli.app import USER_ERRORS, app, fail


def main() -> None:
    try:
        app()
    except USER_ERRORS as err:
        fail(str(err))
        sys.exit(2)
