"""Every command's `--help` renders, and flags are shown without a value type (no `--yes <bool>`)."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from flames.cli import app


def _command_paths() -> list[tuple[str, ...]]:
    """Every group and command of `flames`, as the words that reach it."""
    found: list[tuple[str, ...]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        found.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


PATHS = _command_paths()


def test_the_walk_reaches_nested_commands() -> None:
    assert len(PATHS) > 40
    assert ("runs", "export") in PATHS and ("prompts", "collection", "create") in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "flames")
def test_help_shows_no_type_for_flags(path: tuple[str, ...]) -> None:
    done = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "<bool>" not in done.output
    help_line = next(line for line in done.output.splitlines() if "--help" in line)
    assert re.search(r"--help\s+Show this message and exit", help_line), help_line


def test_flags_lose_the_type_and_options_keep_theirs() -> None:
    out = CliRunner().invoke(app, ["runs", "export", "--help"], env={"COLUMNS": "200"}).output
    assert re.search(r"--no-scores\s+Export responses only", out), out
    assert re.search(r"--scorer\s+<str>", out) and re.search(r"--out\s+-o\s+<path>", out), out
    delete = CliRunner().invoke(app, ["runs", "delete", "--help"], env={"COLUMNS": "200"}).output
    assert re.search(r"--yes\s+-y\s+Do not ask", delete), delete
