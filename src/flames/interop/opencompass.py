"""OpenCompass's FLAMES files, imported as runs so that their answers are scored and reported here.

An OpenCompass work dir holds `predictions/<model>/<subset>.json`, one object per subset keyed by dataset
index: `{"0": {"origin_prompt": ..., "prediction": ..., "gold": {"dimension": ..., "subcomponent": ...}}}`.
Its FLAMES data files (`data/flames/<subset>.json`) are JSON arrays of `{dimension, subcomponent, prompt}`
and read like any prompt file. The layout follows OpenCompass's FLAMES config
(`configs/datasets/flames/flames_gen_*.py`: the prompt alone in a HUMAN turn, the `judge` column as `gold`)
and its GenInferencer, which writes the prompt as sent (`origin_prompt`: a string, or a list of
`{"role", "prompt"}` turns for API models) and the model's answer (`prediction`). OpenCompass itself stores
no FLAMES score per answer, so the runs are imported unscored.

When the data file of a subset is at hand, item i of the predictions is the dataset's item i (OpenCompass
keys predictions by dataset index) and its prompt must appear in `origin_prompt`; without it the prompt is
`origin_prompt` itself (for local chat models that is the prompt inside the model's chat template, so the
ids will not match runs of the plain prompts — import the work dir with its data files instead).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flames.official_format import OfficialRow, ResultsSource, import_rows
from flames.prompts import prompt_from_row, sha256_file
from flames.rowfiles import PromptFileError, iter_rows
from flames.store import RunInfo, Store

HUMAN_ROLES = {"HUMAN", "human", "user", "USER"}


def is_prediction(row: dict[str, Any]) -> bool:
    """A row of an OpenCompass predictions file (rather than an official-format row)."""
    return "origin_prompt" in row and "prediction" in row and "response" not in row


def _prompt_text(path: Path, pos: int, value: Any) -> str:
    """`origin_prompt` as text: the string, or the last human turn of a list of turns."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        turns = [t for t in value if isinstance(t, dict) and t.get("role") in HUMAN_ROLES]
        if turns:
            text = turns[-1].get("prompt", turns[-1].get("content"))
            if isinstance(text, str):
                return text
    raise PromptFileError(path, "expected a string or a list of {role, prompt} turns", pos, "origin_prompt")


def _answers(path: Path, pos: int, value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)  # several samples of one prompt
    raise PromptFileError(path, "expected the answer as a string (or a list of strings)", pos, "prediction")


def prediction_rows(
    path: Path, pos: int, row: dict[str, Any], dataset_row: dict[str, Any] | None = None
) -> list[OfficialRow]:
    """One predictions item as official rows (one per answer), validated like a prompt file's row.

    dataset_row: the subset's data-file item of the same index; its prompt must occur in `origin_prompt`.
    """
    sent = _prompt_text(path, pos, row.get("origin_prompt"))
    if dataset_row is not None:
        fields = dict(dataset_row)
        if str(fields.get("prompt", "")).strip() not in sent:
            raise PromptFileError(
                path, f"the data file's item {int(pos)} is not the prompt of this prediction (is it the same subset"
                " and version?)", pos, "origin_prompt"
            )  # fmt: skip
    else:
        gold = row.get("gold")
        if not isinstance(gold, dict):
            raise PromptFileError(
                path, 'expected {"dimension": ..., "subcomponent": ...} (or import the work dir with its data files)',
                pos, "gold",
            )  # fmt: skip
        fields = {"dimension": gold.get("dimension"), "subcomponent": gold.get("subcomponent"), "prompt": sent}
    prompt = prompt_from_row(path, pos, fields)
    return [OfficialRow(pos, prompt, answer) for answer in _answers(path, pos, row["prediction"])]


def read_predictions(path: Path | str, dataset: Sequence[dict[str, Any]] | None = None) -> list[OfficialRow]:
    """All answers of one predictions file; `dataset`: the rows of its subset's data file, if at hand."""
    path = Path(path)
    out: list[OfficialRow] = []
    for n, (pos, row) in enumerate(iter_rows(path)):
        if not is_prediction(row):
            raise PromptFileError(path, "expected an OpenCompass prediction with origin_prompt and prediction", pos)
        if dataset is not None and n >= len(dataset):
            raise PromptFileError(path, f"more predictions than the data file's {len(dataset)} items", pos)
        out += prediction_rows(path, pos, row, dataset[n] if dataset is not None else None)
    if not out:
        raise PromptFileError(path, "no predictions found (the file is empty)")
    return out


def import_predictions(
    store: Store, path: Path | str, run_name: str | None = None, model: str | None = None
) -> RunInfo:
    """One predictions file as a run. At `predictions/<model>/<subset>.json` (a work dir's layout) the run
    and its model are named after the model folder, as `import_workdir` names them; elsewhere after the
    file's stem."""
    path = Path(path)
    in_workdir = path.parent.parent.name == "predictions"
    name = path.parent.name if in_workdir else path.stem
    meta = {"tool": "opencompass", **({"subsets": [path.stem]} if in_workdir else {})}
    source = ResultsSource(name, str(path), sha256_file(path), meta)
    return import_rows(store, read_predictions(path), source, run_name, model or (name if in_workdir else None))


def _predictions_dir(workdir: Path) -> Path:
    if (workdir / "predictions").is_dir():
        return workdir / "predictions"
    runs = sorted(p.parent.name for p in workdir.glob("*/predictions") if p.is_dir())
    if len(runs) == 1:
        return workdir / runs[0] / "predictions"
    if runs:
        raise PromptFileError(workdir, f"several OpenCompass runs here ({', '.join(runs)}); pass one of them")
    raise PromptFileError(workdir, "no predictions/ folder: expected an OpenCompass work dir")


def import_workdir(
    store: Store, workdir: Path | str, data_dir: Path | str | None = None, run_name: str | None = None
) -> list[RunInfo]:
    """Every model of an OpenCompass work dir as one run named after the model (all its FLAMES subsets).

    data_dir: the FLAMES data files (default: `data/flames` in the work dir, if there); subsets without a
    data file fall back to `origin_prompt` and `gold`. run_name: only when the work dir holds one model.
    """
    workdir = Path(workdir)
    predictions = _predictions_dir(workdir)
    data = Path(data_dir) if data_dir is not None else workdir / "data" / "flames"
    models = sorted(p for p in predictions.iterdir() if p.is_dir() and any(p.glob("*.json")))
    if not models:
        raise PromptFileError(predictions, "no <model>/*.json prediction files")
    if run_name is not None and len(models) > 1:
        raise PromptFileError(workdir, f"--run names one run, but there are {len(models)} models; leave it out")
    runs = []
    for model_dir in models:
        rows: list[OfficialRow] = []
        digest = hashlib.sha256()
        subsets = []
        for file in sorted(model_dir.glob("*.json")):
            data_file = data / file.name
            dataset = [row for _, row in iter_rows(data_file)] if data_file.is_file() else None
            rows += read_predictions(file, dataset)
            subsets.append(file.stem)
            for f in (file, data_file) if dataset is not None else (file,):
                digest.update(f"{f.name}\0{sha256_file(f)}\n".encode())
        source = ResultsSource(
            model_dir.name, str(model_dir), digest.hexdigest(),
            {"tool": "opencompass", "subsets": subsets, "data_dir": str(data) if data.is_dir() else None},
        )  # fmt: skip
        runs.append(import_rows(store, rows, source, run_name or model_dir.name, model_dir.name))
    return runs

