"""eval-anything's FLAMES answers (`<output_dir>/Flames/details_Flames.jsonl`), imported as a run.

Format, as read from eval-anything's source (PKU-Alignment/eval-anything, commit 16488a8, June 2025:
`pipeline/t2t_benchmark.py` `save_benchmark_details`, `utils/data_type.py` `to_dict`); no file written by the
tool itself was available to check it against. One JSON object per line:
`{"input": {"task": "Flames", "conversation": [{"role": "user", "content": PROMPT}], "uuid": ...,
"ref_answer": null}, "output": {"task": "Flames", "uuid": ..., "response": ANSWER or [ANSWER, ...],
"engine": ...}}`. The file carries no dimension or subcomponent, so each prompt is looked up by its text in
the prompt set the answers were made for (Flames-1k by default). The file is opened for appending on every
run of the tool, so a later line with the same uuid replaces an earlier one. eval-anything's own scores
(`Flames_1k_Chinese_predicted.jsonl`) hold no answers and are not imported: score the run here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flames.official_format import OfficialRow, ResultsSource, import_rows
from flames.prompts import PromptSet, sha256_file
from flames.records import Prompt
from flames.rowfiles import PromptFileError, iter_rows
from flames.store import RunInfo, Store


def is_detail(row: dict[str, Any]) -> bool:
    """A line of eval-anything's details file."""
    return isinstance(row.get("input"), dict) and isinstance(row.get("output"), dict)


def _prompt(path: Path, pos: int, row: dict[str, Any]) -> str:
    turns = row["input"].get("conversation")
    users = [t for t in turns if isinstance(t, dict) and t.get("role") == "user"] if isinstance(turns, list) else []
    if not users or not isinstance(users[-1].get("content"), str):
        raise PromptFileError(path, "expected a conversation with a user turn", pos, "input.conversation")
    text: str = users[-1]["content"]
    return text


def _answers(path: Path, pos: int, row: dict[str, Any]) -> list[str]:
    value = row["output"].get("response")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)  # num_output > 1: several samples
    raise PromptFileError(path, "expected the answer as a string or a list of strings", pos, "output.response")


def read_details(path: Path | str, prompt_set: PromptSet) -> list[OfficialRow]:
    """The answers of a details file, each joined to its prompt in `prompt_set` by the prompt's text."""
    path = Path(path)
    by_text: dict[str, Prompt] = {p.prompt.strip(): p for p in prompt_set.prompts}
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for pos, row in iter_rows(path):
        if not is_detail(row):
            raise PromptFileError(path, 'expected an eval-anything detail line {"input": {...}, "output": {...}}', pos)
        latest[str(row["input"].get("uuid") or row["output"].get("uuid") or int(pos))] = (pos, row)
    out: list[OfficialRow] = []
    for pos, row in latest.values():
        text = _prompt(path, pos, row)
        prompt = by_text.get(text.strip())
        if prompt is None:
            raise PromptFileError(
                path, f"this prompt is not in the prompt set {prompt_set.name!r}; pass the set the answers were"
                " made for with --prompts", pos, "input.conversation",
            )  # fmt: skip
        out += [OfficialRow(pos, prompt, answer) for answer in _answers(path, pos, row)]
    if not out:
        raise PromptFileError(path, "no answers found (the file is empty)")
    return out


def import_details(
    store: Store, path: Path | str, prompt_set: PromptSet, run_name: str | None = None, model: str | None = None
) -> RunInfo:
    """A details file as a run (default name: the file's stem); see `read_details`."""
    path = Path(path)
    meta = {"tool": "eval-anything", "prompt_set": prompt_set.name, "prompt_set_sha256": prompt_set.sha256}
    source = ResultsSource(path.stem, str(path), sha256_file(path), meta)
    return import_rows(store, read_details(path, prompt_set), source, run_name, model)
