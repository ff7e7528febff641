"""The published scorer checkpoint on disk: find it, read its config and weights, write a safe copy.

The official release (docs/benchmark.md §4) is an InternLM folder: `config.json` (model_type "internlm"),
`tokenizer.model`, and weights as pickled `pytorch_model-*.bin` shards with an index. Unpickling can run
arbitrary code, so `.bin` files are read only with an explicit opt-in; `save_safetensors` converts once,
after which the copy loads without it. Nothing in the folder is ever imported or executed.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flames.scorers.base import ScorerError

if TYPE_CHECKING:
    import torch

DEFAULT_HUB_ID = "CaasiHUANG/flames-scorer"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.model"
SAFETENSORS_INDEX = "model.safetensors.index.json"
SAFETENSORS_SINGLE = "model.safetensors"
PICKLE_INDEX = "pytorch_model.bin.index.json"
PICKLE_SINGLE = "pytorch_model.bin"
PICKLE_RISK = (
    "pickled .bin weights can execute arbitrary code when loaded; pass --allow-pickle only for a "
    "checkpoint you trust, or convert it once with `flames scorer convert SRC DST --allow-pickle` and use "
    "the safetensors copy"
)
SMALL_TENSOR = 1 << 16
"""Tensors up to this many elements are fingerprinted whole."""


@dataclass(frozen=True)
class CheckpointFiles:
    """What a checkpoint folder holds: its config, tokenizer and weight files (safetensors preferred)."""

    root: Path
    config: dict[str, Any]
    tokenizer: Path
    weights: tuple[Path, ...]
    pickled: bool


def fingerprint(files: CheckpointFiles, *, allow_pickle: bool) -> str:
    """sha256 over config, tokenizer and a content sample of every tensor, whatever the file format.

    Small tensors (norms, biases, the heads) are hashed whole and large ones by their first row: any
    fine-tune, even of the heads alone, changes it, while reading a few MB instead of 14 GB. Tensors are
    taken in name order, so a safetensors conversion keeps the fingerprint of its source.
    """
    import torch

    digest = hashlib.sha256()
    digest.update(json.dumps(files.config, sort_keys=True).encode())
    digest.update(files.tokenizer.read_bytes())
    samples = sorted(_tensor_samples(files, allow_pickle=allow_pickle), key=lambda pair: pair[0])
    for name, full_shape, sample in samples:
        digest.update(f"{name}:{sample.dtype}:{full_shape}".encode())
        digest.update(sample.contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _tensor_samples(
    files: CheckpointFiles, *, allow_pickle: bool
) -> Iterable[tuple[str, tuple[int, ...], torch.Tensor]]:
    from safetensors import safe_open

    _require_opt_in(files, allow_pickle)
    for path in files.weights:
        if files.pickled:
            for name, tensor in _unpickle(path).items():
                yield name, tuple(tensor.shape), tensor if tensor.numel() <= SMALL_TENSOR else tensor[:1]
            continue
        with safe_open(str(path), framework="pt") as reader:
            for name in reader.keys():
                part = reader.get_slice(name)
                shape = tuple(part.get_shape())
                small = math.prod(shape) <= SMALL_TENSOR
                yield name, shape, reader.get_tensor(name) if small else part[:1]


def locate(target: str | None, *, allow_pickle: bool) -> CheckpointFiles:
    """Resolve a local folder or a Hub id (default the official scorer) to checkpoint files."""
    spec = target or DEFAULT_HUB_ID
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ScorerError(f"{path}: the official scorer is a folder (config.json, tokenizer.model, weights)")
        return inspect_folder(path, allow_pickle=allow_pickle)
    if spec.count("/") != 1 or spec.startswith((".", "/", "~")):
        raise ScorerError(f"{spec}: no such folder, and not a Hub id of the form OWNER/NAME")
    return _download(spec, allow_pickle=allow_pickle)


def inspect_folder(root: Path, *, allow_pickle: bool) -> CheckpointFiles:
    """Read config.json and list the weight files; refuse pickled weights without the opt-in."""
    config = read_config(root)
    tokenizer = root / TOKENIZER_FILE
    if not tokenizer.is_file():
        raise ScorerError(f"{root}: {TOKENIZER_FILE} is missing (the SentencePiece model of the scorer)")
    weights, pickled = weight_files(root)
    if pickled and not allow_pickle:
        raise ScorerError(f"{root}: only pickled weights found ({weights[0].name}...); {PICKLE_RISK}")
    return CheckpointFiles(root, config, tokenizer, weights, pickled)


def read_config(root: Path) -> dict[str, Any]:
    path = root / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ScorerError(f"{path}: missing; is {root} a FLAMES scorer checkpoint?") from err
    except json.JSONDecodeError as err:
        raise ScorerError(f"{path}: line {err.lineno}: not valid JSON ({err.msg})") from err
    if not isinstance(config, dict):
        raise ScorerError(f"{path}: expected a JSON object")
    return config


def weight_files(root: Path) -> tuple[tuple[Path, ...], bool]:
    """Weight files named by the index (or the single file), safetensors first, and whether they are pickled.

    Works for any transformers-style folder (`model.safetensors[.index.json]`, `pytorch_model.bin[...]`);
    raises ScorerError when there are none or the index names missing shards.
    """
    for index, single, pickled in (
        (SAFETENSORS_INDEX, SAFETENSORS_SINGLE, False),
        (PICKLE_INDEX, PICKLE_SINGLE, True),
    ):
        if (root / index).is_file():
            names = sorted(set(_index_map(root / index).values()))
            missing = [n for n in names if not (root / n).is_file()]
            if missing:
                raise ScorerError(f"{root / index}: names shard(s) that are missing: {', '.join(missing)}")
            return tuple(root / n for n in names), pickled
        if (root / single).is_file():
            return (root / single,), pickled
    raise ScorerError(
        f"{root}: no weights found (expected {SAFETENSORS_INDEX}, {SAFETENSORS_SINGLE}, {PICKLE_INDEX} "
        f"or {PICKLE_SINGLE})"
    )


def _index_map(index: Path) -> dict[str, str]:
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
        weight_map = data["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ScorerError(f"{index}: not a weight index (expected a JSON object with 'weight_map')") from err
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise ScorerError(f"{index}: 'weight_map' must map tensor names to shard file names")
    return weight_map


def read_state_dict(files: CheckpointFiles, *, allow_pickle: bool) -> dict[str, torch.Tensor]:
    """All tensors of the checkpoint by name; a name found in two shards is an error, not a silent pick."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    _require_opt_in(files, allow_pickle)
    state: dict[str, torch.Tensor] = {}
    for path in files.weights:
        try:
            shard = _unpickle(path) if files.pickled else load_file(path)
        except (OSError, SafetensorError) as err:
            raise ScorerError(f"{path}: cannot read the weights ({err})") from err
        duplicated = state.keys() & shard.keys()
        if duplicated:
            raise ScorerError(f"{path}: tensor(s) also present in another shard: {sorted(duplicated)[:3]}")
        state.update(shard)
    return state


def _require_opt_in(files: CheckpointFiles, allow_pickle: bool) -> None:
    if files.pickled and not allow_pickle:
        raise ScorerError(f"{files.root}: {PICKLE_RISK}")


def _unpickle(path: Path) -> dict[str, torch.Tensor]:
    """One pickled shard, memory-mapped; weights_only restricts the unpickler to tensors (defence in depth
    behind the opt-in), and anything else in the file is refused with its name."""
    import pickle

    import torch

    try:
        shard = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (pickle.UnpicklingError, RuntimeError) as err:
        raise ScorerError(f"{path}: not a plain tensor state dict, refused ({err})") from err
    if not isinstance(shard, dict):
        raise ScorerError(f"{path}: holds a {type(shard).__name__}, expected a dict of tensors")
    return shard


def save_safetensors(src: str, dst: Path, *, allow_pickle: bool) -> CheckpointFiles:
    """Write a safetensors copy of a checkpoint (config, tokenizer, one shard per source shard, an index).

    The destination must not hold weights already, so a conversion never overwrites a checkpoint.
    """
    from safetensors.torch import save_file

    files = locate(src, allow_pickle=allow_pickle)
    dst.mkdir(parents=True, exist_ok=True)
    existing = [p.name for p in _weight_candidates(dst)]
    if existing:
        raise ScorerError(f"{dst}: already holds weights ({', '.join(existing)}); choose an empty folder")
    state = read_state_dict(files, allow_pickle=allow_pickle)
    by_shard = _shard_plan(files, state)
    weight_map: dict[str, str] = {}
    for number, names in enumerate(by_shard, start=1):
        shard_name = f"model-{number:05d}-of-{len(by_shard):05d}.safetensors"
        # safetensors refuses shared or non-contiguous storage; mmap'd pickles can be either.
        save_file({n: state[n].contiguous().clone() for n in names}, dst / shard_name, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(names, shard_name))
    index = {"metadata": {"converted_from": str(files.root)}, "weight_map": dict(sorted(weight_map.items()))}
    (dst / SAFETENSORS_INDEX).write_text(json.dumps(index, indent=2, ensure_ascii=False), encoding="utf-8")
    for extra in (CONFIG_FILE, TOKENIZER_FILE):
        shutil.copyfile(files.root / extra, dst / extra)
    return inspect_folder(dst, allow_pickle=False)


def _weight_candidates(root: Path) -> Iterable[Path]:
    return (p for p in root.iterdir() if p.suffix in {".safetensors", ".bin"})


def _shard_plan(files: CheckpointFiles, state: dict[str, torch.Tensor]) -> list[list[str]]:
    """Tensor names per output shard, following the source's sharding so each shard stays a sane size."""
    index = next((files.root / n for n in (SAFETENSORS_INDEX, PICKLE_INDEX) if (files.root / n).is_file()), None)
    if index is None:
        return [sorted(state)]
    weight_map = _index_map(index)
    shards = sorted(set(weight_map.values()))
    return [sorted(n for n in state if weight_map.get(n, shards[0]) == shard) for shard in shards]


def _download(repo_id: str, *, allow_pickle: bool) -> CheckpointFiles:
    """Fetch a Hub checkpoint, only the weight format that will be used; offline, use the local cache.

    The pickle check happens on the file listing, before any shard is downloaded, so nobody fetches 14 GB
    only to be told to start again.
    """
    try:
        from huggingface_hub import list_repo_files, snapshot_download
    except ImportError as err:
        raise ScorerError("downloading the scorer needs huggingface_hub: pip install 'flames-eval[hf]'") from err
    try:
        names = list_repo_files(repo_id)
    except Exception as err:  # offline or unreachable (the client raises many types): try the local cache
        try:
            root = Path(snapshot_download(repo_id, local_files_only=True))
        except Exception:
            raise ScorerError(
                f"{repo_id}: cannot reach the Hub ({err}) and no cached copy exists; check the network, or "
                "pass a local folder (--scorer flames:/path/to/checkpoint)"
            ) from err
        return inspect_folder(root, allow_pickle=allow_pickle)
    safetensors = [n for n in names if n.endswith(".safetensors")]
    if not safetensors and not allow_pickle:
        raise ScorerError(f"{repo_id}: the Hub copy has only pickled weights; {PICKLE_RISK}")
    patterns = [CONFIG_FILE, TOKENIZER_FILE, "*.json", "*.safetensors" if safetensors else "*.bin"]
    try:
        root = Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as err:
        raise ScorerError(f"{repo_id}: download failed ({err}); rerun to resume it") from err
    return inspect_folder(root, allow_pickle=allow_pickle)
