"""`--shard I/N`: a deterministic slice of a run's work, so N processes can share one store.

A prompt belongs to shard `I` of `N` when the first 8 bytes of the SHA-256 of its id, read as a big-endian
integer, equal `I` modulo `N`. The assignment depends on nothing but the prompt id, so every process (and a
requeued one) computes the same slices without talking to the others, all samples of a prompt land in the
same shard, and the slices are disjoint and cover the set. The store decides what is left to do inside a
slice, so a shard that is started again resumes where it stopped.

`I` may be `auto`: it is then read from the scheduler, `$JOB_COMPLETION_INDEX` (Kubernetes Indexed Job) or
`$SLURM_ARRAY_TASK_ID` minus `$SLURM_ARRAY_TASK_MIN` (Slurm job array); `N` may be `auto` under Slurm
(`$SLURM_ARRAY_TASK_COUNT`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

SHARD_HELP = (
    "Take only shard I of N of the work (0 <= I < N, by prompt id), e.g. 0/4; `auto/N` reads I from"
    " $JOB_COMPLETION_INDEX or $SLURM_ARRAY_TASK_ID. Run N processes on one store; each resumes its own shard."
)


class ShardError(ValueError):
    """A `--shard` value that cannot be used; the message says the accepted forms."""


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0-based)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ShardError(f"shard {self.index}/{self.count}: need 0 <= I < N and N >= 1")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def contains(self, prompt_id: str) -> bool:
        """Whether the prompt with this id (`Prompt.id`) belongs to this shard."""
        return shard_of(prompt_id, self.count) == self.index


def shard_of(prompt_id: str, count: int) -> int:
    """The shard (0 ≤ result < count) of a prompt id: SHA-256 of its UTF-8 bytes, first 8 bytes mod count."""
    digest = hashlib.sha256(prompt_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ShardError(f"{what} is {value!r}, not a whole number") from None


def parse_shard(value: str, environ: Mapping[str, str] | None = None) -> Shard:
    """`"I/N"` → Shard(I, N); `auto` for I (or, under Slurm, for N) reads the scheduler's variables.

    Raises ShardError naming the accepted forms when the value or the variables it needs are unusable.
    """
    env = os.environ if environ is None else environ
    index_text, sep, count_text = value.strip().partition("/")
    if not sep:
        raise ShardError(f"--shard {value!r}: use I/N, e.g. 0/4 (or auto/4 under Slurm or a Kubernetes Indexed Job)")
    if count_text == "auto":
        if "SLURM_ARRAY_TASK_COUNT" not in env:
            raise ShardError("--shard I/auto needs $SLURM_ARRAY_TASK_COUNT (a Slurm job array); give N instead")
        count_text = env["SLURM_ARRAY_TASK_COUNT"]
    count = _int(count_text, "the shard count N")
    if index_text != "auto":
        return Shard(_int(index_text, "the shard index I"), count)
    if "JOB_COMPLETION_INDEX" in env:
        return Shard(_int(env["JOB_COMPLETION_INDEX"], "$JOB_COMPLETION_INDEX"), count)
    if "SLURM_ARRAY_TASK_ID" in env:
        task = _int(env["SLURM_ARRAY_TASK_ID"], "$SLURM_ARRAY_TASK_ID")
        first = _int(env.get("SLURM_ARRAY_TASK_MIN", "0"), "$SLURM_ARRAY_TASK_MIN")
        return Shard(task - first, count)
    raise ShardError(
        "--shard auto/N: neither $JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor $SLURM_ARRAY_TASK_ID"
        " (Slurm job array) is set; give the index, e.g. --shard 0/4"
    )
