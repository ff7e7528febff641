"""Loading the published layout: every weight used, nothing missing, pickles only with the opt-in, convert."""

from __future__ import annotations

import json
import shutil
from fnmatch import fnmatch
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_checkpoint import CODE_SENTINEL, TinyCheckpoint, score_all
from typer.testing import CliRunner

from flames.cli import app
from flames.records import Item
from flames.scorers.base import ScorerError
from flames.scorers.official import make_scorer
from flames.scorers.official.checkpoint import fingerprint, inspect_folder, locate, read_state_dict
from flames.scorers.official.model import Architecture, build_model
from flames.taxonomy import DIMENSIONS


def _model(folder: Path, *, allow_pickle: bool = False) -> torch.nn.Module:
    files = inspect_folder(folder, allow_pickle=allow_pickle)
    arch = Architecture.from_config(files.config, "config.json")
    state = read_state_dict(files, allow_pickle=allow_pickle)
    return build_model(arch, state, device="cpu", dtype=torch.float32, source=str(folder))


@pytest.mark.parametrize("layout", ["bin", "safetensors"])
def test_every_weight_is_loaded(tiny: TinyCheckpoint, layout: str) -> None:
    folder = tiny.bin_dir if layout == "bin" else tiny.safetensors_dir
    model = _model(folder, allow_pickle=layout == "bin")
    loaded = {
        **{f"model.{k}": v for k, v in model.backbone.state_dict().items()},
        **{f"classifiers.{k}": v for k, v in model.heads.state_dict().items()},
    }
    expected = {k for k in tiny.state if "rotary_emb.inv_freq" not in k}
    assert set(loaded) == expected
    for key in expected:
        assert torch.equal(loaded[key], tiny.state[key].float()), key
    # the recomputed RoPE frequencies equal the ones the checkpoint shipped
    inv_freq = model.backbone.rotary_emb.inv_freq
    assert torch.allclose(inv_freq, tiny.state["model.layers.0.self_attn.rotary_emb.inv_freq"])
    assert [h.out_features for h in model.heads] == [3, 3, 3, 2, 2]


def _copy_with(tiny: TinyCheckpoint, tmp_path: Path, edit: dict[str, torch.Tensor | None]) -> Path:
    folder = tmp_path / "edited"
    shutil.copytree(tiny.safetensors_dir, folder)
    shard = folder / "model-00002-of-00002.safetensors"
    tensors = load_file(shard)
    for key, value in edit.items():
        if value is None:
            tensors.pop(key)
        else:
            tensors[key] = value
    save_file(tensors, shard)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    index["weight_map"] = {k: v for k, v in index["weight_map"].items() if edit.get(k, 0) is not None}
    index["weight_map"].update({k: shard.name for k, v in edit.items() if v is not None})
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder


def test_unused_tensor_is_refused(tiny: TinyCheckpoint, tmp_path: Path) -> None:
    folder = _copy_with(tiny, tmp_path, {"lm_head.weight": torch.zeros(4, 4)})
    with pytest.raises(ScorerError, match=r"does not use: lm_head\.weight"):
        _model(folder)


def test_missing_tensor_is_refused(tiny: TinyCheckpoint, tmp_path: Path) -> None:
    folder = _copy_with(tiny, tmp_path, {"classifiers.4.weight": None})
    with pytest.raises(ScorerError, match=r"lacks tensors: classifiers\.4\.weight"):
        _model(folder)


def test_wrong_head_shape_is_refused(tiny: TinyCheckpoint, tmp_path: Path) -> None:
    folder = _copy_with(tiny, tmp_path, {"classifiers.3.weight": torch.zeros(3, 64, dtype=torch.float16)})
    with pytest.raises(ScorerError, match=r"classifiers\.3\.weight has shape \(3, 64\)"):
        _model(folder)


def test_fingerprint_sees_a_retrained_head(tiny: TinyCheckpoint, tmp_path: Path) -> None:
    head = tiny.state["classifiers.0.weight"].clone()
    head[2, 5] += 1
    folder = _copy_with(tiny, tmp_path, {"classifiers.0.weight": head})
    same = fingerprint(inspect_folder(tiny.safetensors_dir, allow_pickle=False), allow_pickle=False)
    assert fingerprint(inspect_folder(tiny.bin_dir, allow_pickle=True), allow_pickle=True) == same
    assert fingerprint(inspect_folder(folder, allow_pickle=False), allow_pickle=False) != same


def test_wrong_model_type_is_refused(tiny: TinyCheckpoint) -> None:
    config = {**tiny.config, "model_type": "bert"}
    with pytest.raises(ScorerError, match="model_type is 'bert', expected 'internlm'"):
        Architecture.from_config(config, "x/config.json")


def test_pickled_weights_need_the_opt_in(tiny: TinyCheckpoint) -> None:
    with pytest.raises(ScorerError, match=r"arbitrary code.*--allow-pickle"):
        locate(str(tiny.bin_dir), allow_pickle=False)
    result = CliRunner().invoke(app, ["scorer", "convert", str(tiny.bin_dir), "/nonexistent-never-written"])
    assert result.exit_code != 0
    assert "arbitrary code" in str(result.exception) + result.output


async def test_convert_gives_safetensors_that_score_identically(tiny: TinyCheckpoint, tmp_path: Path) -> None:
    dst = tmp_path / "converted"
    result = CliRunner().invoke(app, ["scorer", "convert", str(tiny.bin_dir), str(dst), "--allow-pickle"])
    assert result.exit_code == 0, result.output
    assert not list(dst.glob("*.bin"))
    files = locate(str(dst), allow_pickle=False)
    assert not files.pickled and len(files.weights) == 2
    items = [Item(str(i), d, f"问题{i}", f"回答{i}，内容各不相同。" * (i + 1)) for i, d in enumerate(DIMENSIONS * 3)]
    original = make_scorer(str(tiny.bin_dir), allow_pickle=True)
    converted = make_scorer(str(dst))
    a = await score_all(original, items)
    b = await score_all(converted, items)
    assert {k: (j.score, j.probs) for k, j in a.items()} == {k: (j.score, j.probs) for k, j in b.items()}
    assert original.config() == converted.config()  # same weights, same scorer identity in the store
    assert not list(tiny.bin_dir.glob(f"*{CODE_SENTINEL}")), "the checkpoint's own code must never run"
    assert not list(dst.glob("*.py")), "the safe copy carries no code"
    again = CliRunner().invoke(app, ["scorer", "convert", str(tiny.bin_dir), str(dst), "--allow-pickle"])
    assert again.exit_code != 0  # never overwrites a checkpoint


def test_info_reads_no_weights(tiny: TinyCheckpoint) -> None:
    result = CliRunner().invoke(app, ["scorer", "info", str(tiny.bin_dir)])
    assert result.exit_code == 0, result.output
    assert "pickled" in result.output and "2 × hidden 64" in result.output


def test_hub_id_without_cache_offline_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ScorerError, match=r"cannot reach the Hub.*no cached copy.*flames:/path/to/checkpoint"):
        locate("someone/no-such-scorer", allow_pickle=False)


class FakeHub:
    """Stands in for huggingface_hub: lists a local folder and copies the files an allow-pattern matches."""

    def __init__(self, folder: Path, cache: Path) -> None:
        self.folder, self.cache = folder, cache
        self.requests: list[tuple[str, list[str] | None]] = []

    def list_repo_files(self, repo_id: str) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir())

    def snapshot_download(
        self, repo_id: str, allow_patterns: list[str] | None = None, local_files_only: bool = False
    ) -> str:
        self.requests.append((repo_id, allow_patterns))
        out = self.cache / repo_id.replace("/", "--")
        out.mkdir(parents=True, exist_ok=True)
        for path in self.folder.iterdir():
            if allow_patterns is None or any(fnmatch(path.name, p) for p in allow_patterns):
                shutil.copy(path, out / path.name)
        return str(out)


def _fake_hub(monkeypatch: pytest.MonkeyPatch, folder: Path, cache: Path) -> FakeHub:
    import huggingface_hub

    hub = FakeHub(folder, cache)
    monkeypatch.setattr(huggingface_hub, "list_repo_files", hub.list_repo_files)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    return hub


def test_hub_pickles_are_refused_before_any_shard_is_fetched(
    tiny: TinyCheckpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = _fake_hub(monkeypatch, tiny.bin_dir, tmp_path)
    with pytest.raises(ScorerError, match="only pickled weights"):
        make_scorer(None).config()
    assert hub.requests == []
    files = locate(None, allow_pickle=True)
    assert hub.requests[-1][0] == "CaasiHUANG/flames-scorer"
    assert files.pickled and len(files.weights) == 2


def test_hub_downloads_only_safetensors_when_present(
    tiny: TinyCheckpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed = tmp_path / "mixed"
    shutil.copytree(tiny.safetensors_dir, mixed)
    for shard in tiny.bin_dir.glob("*.bin*"):
        shutil.copy(shard, mixed / shard.name)
    hub = _fake_hub(monkeypatch, mixed, tmp_path / "cache")
    files = locate("owner/scorer", allow_pickle=False)
    assert not files.pickled
    assert not list(files.root.glob("*.bin"))
    assert "*.bin" not in (hub.requests[-1][1] or [])


class Gadget:
    """Stands for any non-tensor object a pickle could smuggle in (and run code while rebuilding)."""


def test_a_pickle_that_is_not_a_tensor_dict_is_refused(tiny: TinyCheckpoint, tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    shutil.copytree(tiny.bin_dir, folder)
    torch.save({"model.norm.weight": Gadget()}, folder / "pytorch_model-00002-of-00002.bin")
    with pytest.raises(ScorerError, match=r"pytorch_model-00002-of-00002\.bin: not a plain tensor state dict"):
        read_state_dict(inspect_folder(folder, allow_pickle=True), allow_pickle=True)
