"""Every command's `--help` renders, and flags are shown without a value type (no `--yes <bool>`)."""

from __future__ import annotations

import re
from pathlib import Path

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
    assert re.search(r"--scorer\s+<str>", out) and re.search(r"-o, --out\s+<path>", out), out
    delete = CliRunner().invoke(app, ["runs", "delete", "--help"], env={"COLUMNS": "200"}).output
    assert re.search(r"-y, --yes\s+Do not ask", delete), delete


def test_the_readme_names_every_command_without_a_store() -> None:
    """README, *Command line*: which commands have no `--db` (they work on files only)."""
    command = typer.main.get_command(app)
    without = []
    for path in PATHS:
        leaf = command
        for word in path:
            leaf = leaf.commands[word]  # type: ignore[attr-defined]
        if not getattr(leaf, "commands", None) and not any("--db" in p.opts for p in leaf.params):
            without.append(path)
    assert ("data", "fetch") in without and ("runs", "list") not in without
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    paragraph = readme[readme.index("Commands that work on files only") :].split("\n\n")[0]
    for group, name in without:
        assert re.search(rf"`{group} [\w|-]*\b{name}\b", paragraph), (group, name, paragraph)
