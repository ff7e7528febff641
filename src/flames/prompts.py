"""Prompt sets: Flames-1k by name (local copy, cache or verified download) and users' own files.

Files may be JSONL, JSON, CSV, Excel `.xlsx` or Parquet (read by `flames.rowfiles`) with the official fields
(`dimension`, `subcomponent`, `prompt`; English or Chinese names) plus optional `id`, `attack_method` and any
other fields (kept as metadata). Every validation error names the file, the row, the field and what was
expected, because users fix these files by hand. A released prompt
set (`NAME@VERSION`, see `flames.design.releases`) is found through `RESOLVERS`, imported only when used.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from flames.records import Prompt
from flames.rowfiles import PromptFileError as PromptFileError  # re-exported: callers import them from here
from flames.rowfiles import describe, require_file
from flames.rowfiles import iter_rows as iter_rows
from flames.taxonomy import Dimension, parse_dimension, parse_subcomponent

FLAMES_1K = "flames-1k"
FLAMES_1K_URL = "https://raw.githubusercontent.com/AIFlames/Flames/main/Flames_1k_Chinese.jsonl"
FLAMES_1K_SHA256 = "f53400dcbb8795fb262993bda0615afdc77de1c4685e7c94d2df2a3cd47613fa"
FLAMES_1K_FILENAME = "Flames_1k_Chinese.jsonl"
RESERVED_FIELDS = ("id", "dimension", "subcomponent", "prompt", "attack_method")
RELEASE_REF = re.compile(r"(?P<name>[^@/\\\s]+)@(?P<version>[\w.-]+)")
"""`NAME@VERSION`: a released prompt set in the store (a spec that is not an existing file)."""
RESOLVERS: tuple[str, ...] = ("flames.design.releases:resolve_release",)
"""`module:function` hooks for prompt-set specs of the `NAME@VERSION` form, tried in order; each takes
`(spec, db_url)` and returns a PromptSet, or None when the spec is not its kind."""


@dataclass(frozen=True)
class PromptSet:
    """A named, content-addressed set of prompts."""

    name: str
    sha256: str
    source: str
    prompts: tuple[Prompt, ...]

    def __len__(self) -> int:
        return len(self.prompts)

    def limit(self, n: int | None) -> PromptSet:
        """The first `n` prompts (same name and hash: a slice of the same set)."""
        return self if n is None else PromptSet(self.name, self.sha256, self.source, self.prompts[:n])


def prompt_id(dimension: Dimension, subcomponent: str, text: str) -> str:
    """Stable id from content, so the same prompt joins across runs, files and tools."""
    digest = hashlib.sha256(f"{dimension.value}\x1f{subcomponent}\x1f{text.strip()}".encode()).hexdigest()
    return digest[:16]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir() -> Path:
    """Where downloaded data lives (XDG cache; override with FLAMES_CACHE)."""
    if os.environ.get("FLAMES_CACHE"):
        return Path(os.environ["FLAMES_CACHE"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("flames-eval"))


def required_text(path: Path, line: int, row: dict[str, Any], field: str) -> str:
    """A non-empty string field of a row, or an error naming it."""
    if field not in row:
        raise PromptFileError(path, f"missing required field {field!r}", line, field)
    value = row[field]
    if not isinstance(value, str):
        raise PromptFileError(path, f"expected a string, got {type(value).__name__}", line, field)
    if not value.strip():
        raise PromptFileError(path, "must not be empty", line, field)
    return value


def prompt_from_row(path: Path, line: int, row: dict[str, Any]) -> Prompt:
    """Validate one row and build its Prompt; extra fields become metadata."""
    try:
        dimension = parse_dimension(required_text(path, line, row, "dimension"))
    except ValueError as err:
        if isinstance(err, PromptFileError):
            raise
        raise PromptFileError(path, str(err), line, "dimension") from err
    try:
        subcomponent = parse_subcomponent(required_text(path, line, row, "subcomponent"), dimension)
    except ValueError as err:
        if isinstance(err, PromptFileError):
            raise
        raise PromptFileError(path, str(err), line, "subcomponent") from err
    text = required_text(path, line, row, "prompt")
    given = row.get("id")
    pid = str(given).strip() if given not in (None, "") else prompt_id(dimension, subcomponent, text)
    attack = row.get("attack_method")
    metadata = {k: v for k, v in row.items() if k not in RESERVED_FIELDS}
    return Prompt(pid, dimension, subcomponent, text, str(attack) if attack else None, metadata)


def read_prompt_file(path: Path | str, name: str | None = None, extra_fields: tuple[str, ...] = ()) -> PromptSet:
    """Read and validate a user's prompt file. `extra_fields` are dropped from metadata (e.g. `response`)."""
    path = Path(path)
    require_file(path)
    prompts: list[Prompt] = []
    seen: dict[str, int] = {}
    for line, row in iter_rows(path):
        p = prompt_from_row(path, line, row)
        if p.id in seen:
            raise PromptFileError(
                path,
                f"duplicate id {p.id!r} (first at {describe(seen[p.id])}); give each prompt a unique `id`"
                " or remove the repeated prompt",
                line,
                "id",
            )
        seen[p.id] = line
        for f in extra_fields:
            p.metadata.pop(f, None)
        prompts.append(p)
    if not prompts:
        raise PromptFileError(path, "no prompts found (the file is empty)")
    digest = sha256_file(path)
    name = name or (FLAMES_1K if digest == FLAMES_1K_SHA256 else path.stem)
    return PromptSet(name, digest, str(path), tuple(prompts))


def flames_1k_path(offline: bool | None = None) -> Path:
    """Path of a verified Flames-1k copy: $FLAMES_DATA, else the cache, else a verified download."""
    env = os.environ.get("FLAMES_DATA")
    if env:
        p = Path(env)
        found = p / FLAMES_1K_FILENAME if p.is_dir() else p
        if not found.is_file():
            where = f"the folder {p} has no {FLAMES_1K_FILENAME}" if p.is_dir() else "no such file"
            raise PromptFileError(found, f"$FLAMES_DATA={env} names no copy of Flames-1k ({where}); set it to the"
                                  f" file {FLAMES_1K_FILENAME} or the folder holding it, or unset it")  # fmt: skip
        return found
    cached = cache_dir() / "data" / FLAMES_1K_FILENAME
    if cached.is_file() and sha256_file(cached) == FLAMES_1K_SHA256:
        return cached
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("FLAMES_OFFLINE") == "1"
    how = (
        "Provide a local copy with `--prompts PATH/Flames_1k_Chinese.jsonl` or `FLAMES_DATA=PATH`, or place it"
        f" at {cached}."
    )
    if offline:
        raise PromptFileError(FLAMES_1K, f"no local copy of Flames-1k and offline mode is on. {how}")
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(FLAMES_1K_URL, timeout=30) as resp:
            data = resp.read()
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise PromptFileError(FLAMES_1K, f"could not download {FLAMES_1K_URL} ({err}). {how}") from err
    digest = hashlib.sha256(data).hexdigest()
    if digest != FLAMES_1K_SHA256:
        raise PromptFileError(
            FLAMES_1K_URL, f"downloaded file has sha256 {digest}, expected {FLAMES_1K_SHA256}; not using it. {how}"
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(cached)
    return cached


def load_prompt_set(spec: str | Path | None = None, db: str | None = None) -> PromptSet:
    """`flames-1k` (the default), a path to a JSONL, JSON, CSV, `.xlsx` or Parquet file, or `NAME@VERSION`:
    a release in the store at `db` (default `$FLAMES_DB`, else `flames.db`), found through `RESOLVERS`."""
    if spec is None or str(spec) == FLAMES_1K:
        return read_prompt_file(flames_1k_path(), name=FLAMES_1K)
    path = Path(spec)
    if not path.exists() and RELEASE_REF.fullmatch(str(spec)):
        for hook in RESOLVERS:
            module, _, function = hook.partition(":")
            found: PromptSet | None = getattr(import_module(module), function)(str(spec), db)
            if found is not None:
                return found
    return read_prompt_file(path)
