"""The command line's start-up rule (docs/architecture.md, "Command line"): command modules import only light
modules, so `flames --help` and the parsing of every command never load the heavy ones. Speed itself is
measured by benchmarks/startup.py, not here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "sqlalchemy", "alembic", "numpy", "scipy", "torch", "transformers", "sentencepiece", "safetensors",
    "huggingface_hub", "aiohttp", "fastapi", "starlette", "uvicorn", "jinja2", "plotly", "pandas", "openpyxl",
    "pyarrow", "sklearn", "datasketch", "ray", "charset_normalizer", "platformdirs", "argon2",
)  # fmt: skip
"""(typer itself loads pydantic and importlib.metadata to parse options; those are not ours to defer.)"""


def _loaded_after(args: list[str]) -> list[str]:
    """Heavy modules loaded by running `flames ARGS` in a fresh interpreter (its exit code ignored)."""
    code = (
        "import json, sys\n"
        "from flames.cli import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [["--help"], ["generate", "--help"], ["runs", "--help"], ["annotate", "--help"], ["compare", "--help"],
     ["score", "--help"], ["run", "--help"]],
)  # fmt: skip
def test_help_loads_no_heavy_module(args: list[str]) -> None:
    assert _loaded_after(args) == []


def test_heavy_modules_are_loaded_by_the_commands_that_use_them() -> None:
    """The check above can fail: a command that opens the store does load SQLAlchemy."""
    assert "sqlalchemy" in _loaded_after(["runs", "list", "--db", "sqlite://"])
