"""Import a results file or work dir of any supported tool, telling them apart by their rows."""

from __future__ import annotations

from pathlib import Path

from flames.interop import Source
from flames.interop.eval_anything import import_details, is_detail
from flames.interop.opencompass import import_predictions, import_workdir, is_prediction
from flames.official_format import import_official
from flames.prompts import load_prompt_set
from flames.rowfiles import PromptFileError, iter_rows
from flames.store import RunInfo, Store


def detect(path: Path) -> Source:
    """Which tool wrote `path`: a folder is an OpenCompass work dir; a file is told by its first row."""
    if path.is_dir():
        return "opencompass"
    first = next((row for _, row in iter_rows(path)), {})
    return "opencompass" if is_prediction(first) else "eval-anything" if is_detail(first) else "official"


def import_results(
    store: Store,
    path: Path | str,
    source: Source = "auto",
    run_name: str | None = None,
    model: str | None = None,
    prompts: str | None = None,
    data_dir: Path | None = None,
) -> list[RunInfo]:
    """Import `path` as one run (a file) or one run per model (an OpenCompass work dir); idempotent.

    prompts: the prompt set eval-anything's answers were made for (default Flames-1k); data_dir: OpenCompass's
    FLAMES data files (default `data/flames` in the work dir). Raises PromptFileError naming file, row, field.
    """
    path = Path(path)
    if not path.exists():
        raise PromptFileError(path, "file not found")
    kind = detect(path) if source == "auto" else source
    if path.is_dir() and kind != "opencompass":
        raise PromptFileError(path, f"is a folder; --from {kind} imports a file")
    if kind == "opencompass":
        if path.is_dir():
            return import_workdir(store, path, data_dir, run_name)
        return [import_predictions(store, path, run_name, model)]
    if kind == "eval-anything":
        return [import_details(store, path, load_prompt_set(prompts), run_name, model)]
    return [import_official(store, path, run_name, model)]


def import_file(store: Store, path: Path | str, run_name: str | None = None) -> RunInfo:
    """A results file of any tool above (told apart by its rows) as a run, for commands that take a file."""
    (run,) = import_results(store, path, run_name=run_name)
    return run
