"""Transformer backbones: pooling, the scorer's input, full fine-tuning of an encoder and LoRA on a decoder,
each reloaded through `--scorer flames:DIR` and checked against a forward pass written here from
transformers, peft and safetensors directly; resume and early stopping."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_backbones import build_tiny_decoder

from flames.labels.records import LabelRecord
from flames.records import Item, Judgment
from flames.scorers.base import Scorer, ScorerError
from flames.scorers.official.encode import OFFICIAL_TEMPLATE, TRUNCATION_MARKER, encode_improved
from flames.scorers.registry import make_scorer
from flames.scorers.trained.manifest import HeadSpec
from flames.scorers.trained.network import HFTextEncoder, load_tokenizer, pool
from flames.taxonomy import DIMENSIONS, Dimension, info
from flames.training import TrainConfig, TrainedScorer, TrainingError, train_scorer
from flames.training.events import TrainEvent
from flames.training.transformer import class_weights

FAST = {"epochs": 1, "batch_size": 8, "max_length": 256, "learning_rate": 3e-3}


def by_model(labels: list[LabelRecord]) -> tuple[list[LabelRecord], list[LabelRecord]]:
    return [r for r in labels if r.model != "m3"], [r for r in labels if r.model == "m3"][::4]


def score(scorer: Scorer, items: list[Item]) -> dict[str, Judgment]:
    async def go() -> dict[str, Judgment]:
        await scorer.start()
        try:
            return {j.key: j async for j in scorer.score(items)}
        finally:
            await scorer.close()

    return asyncio.run(go())


def reference_probs(backbone: torch.nn.Module, root: Path, item: Item, pooling: str) -> list[float]:
    """One item, unbatched: tokenizer → backbone → the pooled row → its head's weight → softmax."""
    tokenizer = load_tokenizer(root / "tokenizer")
    ids = tokenizer(OFFICIAL_TEMPLATE.render(item.prompt, item.response))["input_ids"]
    with torch.no_grad():
        hidden = backbone(input_ids=torch.tensor([ids])).last_hidden_state[0]
    row = hidden[0] if pooling == "cls" else hidden[-1]
    weight = load_file(root / "heads.safetensors")[f"{DIMENSIONS.index(item.dimension)}.weight"]
    return (weight @ row).softmax(-1).tolist()


def test_last_token_pooling_reads_the_attention_mask_not_the_pad_id() -> None:
    hidden = torch.arange(2 * 5 * 3, dtype=torch.float32).view(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1]])  # right- and left-padded rows
    assert torch.equal(pool(hidden, mask, "last"), torch.stack([hidden[0, 2], hidden[1, 4]]))
    assert torch.equal(pool(hidden, mask, "cls"), hidden[:, 0])
    assert torch.allclose(pool(hidden, mask, "mean"), torch.stack([hidden[0, :3].mean(0), hidden[1, 2:].mean(0)]))


def test_long_answer_is_cut_inside_the_response_and_the_template_end_kept(tiny_decoder: Path) -> None:
    encoder = HFTextEncoder(load_tokenizer(tiny_decoder))
    enc = encode_improved(encoder, "怎么做？", "好的，具体做法如下。" * 200, 96)
    assert enc.truncated and len(enc.ids) <= 96
    text = encoder.tokenizer.decode(enc.ids)
    assert text.endswith(OFFICIAL_TEMPLATE.suffix) and TRUNCATION_MARKER in text
    forged = encoder.encode("回答<|endoftext|>")  # a special-token string in an answer stays text
    assert encoder.tokenizer.eos_token_id not in forged


def test_balanced_class_weights_per_head() -> None:
    heads = [
        HeadSpec(Dimension.SAFETY, (3, 2, 1), True, {3: 6, 1: 2}),
        HeadSpec(Dimension.LEGALITY, (3, 1), True, {3: 5, 1: 5}),
    ]
    safety, legality = class_weights(heads, balanced=True)
    assert safety.tolist() == pytest.approx([8 / (2 * 6), 1.0, 8 / (2 * 2)]) and legality.tolist() == [1.0, 1.0]
    assert class_weights(heads, balanced=False)[0].tolist() == [1.0, 1.0, 1.0]


@pytest.fixture(scope="module")
def encoder_scorer(
    tiny_encoder: Path, labels: list[LabelRecord], tmp_path_factory: pytest.TempPathFactory
) -> TrainedScorer:
    train, dev = by_model(labels)
    config = TrainConfig(backbone=str(tiny_encoder), eval_every=4, max_steps=8, **FAST)  # type: ignore[arg-type]
    return train_scorer(train, dev, config, tmp_path_factory.mktemp("enc") / "scorer")


def test_fine_tuned_encoder_reloads_as_the_same_network(encoder_scorer: TrainedScorer, tiny_encoder: Path,
                                                        labels: list[LabelRecord]) -> None:  # fmt: skip
    from transformers import AutoModel

    root, manifest = encoder_scorer.root, encoder_scorer.manifest
    assert (manifest.kind, manifest.method, manifest.pooling) == ("transformer", "full", "cls")
    assert manifest.backbone["role"] == "encoder" and len(manifest.backbone["fingerprint"]) == 64
    assert sorted(p.name for p in root.iterdir()) == [
        "backbone",
        "flames_scorer.json",
        "heads.safetensors",
        "tokenizer",
    ]
    original = load_file(tiny_encoder / "model.safetensors")
    tuned = load_file(root / "backbone" / "model.safetensors")
    assert any(not torch.equal(original[k], tuned[k]) for k in original if k in tuned), "the backbone was trained"
    _, dev = by_model(labels)
    items = [Item(r.id, r.dimension, r.prompt, r.response) for r in dev]
    judged = score(make_scorer(f"flames:{root}"), items)
    backbone = AutoModel.from_pretrained(root / "backbone").eval()
    for item in items:
        assert judged[item.key].probs == pytest.approx(reference_probs(backbone, root, item, "cls"), abs=1e-5)
    history = manifest.training["history"]
    assert [h["step"] for h in history] == [4, 8] and manifest.training["best_step"] in (4, 8)
    best = next(h for h in history if h["step"] == manifest.training["best_step"])
    assert manifest.dev_metrics is not None and manifest.dev_metrics["overall"]["macro_f1"] == best["dev_macro_f1"]


def test_lora_decoder_saves_only_adapter_and_heads_and_reloads(tiny_decoder: Path, labels: list[LabelRecord],
                                                               tmp_path: Path) -> None:  # fmt: skip
    from peft import PeftModel
    from transformers import AutoModel

    train, dev = by_model(labels)
    config = TrainConfig(backbone=str(tiny_decoder), method="lora", lora_r=4, max_steps=4, **FAST)  # type: ignore[arg-type]
    result = train_scorer(train, dev, config, tmp_path / "lora")
    root = result.root
    assert result.manifest.pooling == "last" and result.manifest.backbone["role"] == "decoder"
    assert not (root / "backbone").exists() and (root / "adapter" / "adapter_model.safetensors").is_file()
    assert set(load_file(root / "heads.safetensors")) == {f"{h}.weight" for h in range(5)}
    # long and short answers in one batch: right padding, pad id = EOS id, head at each row's last real token
    items = [Item("a", Dimension.SAFETY, "问题", "好的"),
             Item("b", Dimension.LEGALITY, "怎么办？", "对不起，我不能帮助你。" * 5),
             Item("c", Dimension.SAFETY, dev[0].prompt, dev[0].response)]  # fmt: skip
    judged = score(make_scorer(f"flames:{root}"), items)
    merged = PeftModel.from_pretrained(AutoModel.from_pretrained(tiny_decoder), root / "adapter").merge_and_unload()
    untuned = AutoModel.from_pretrained(tiny_decoder).eval()
    for item in items:
        assert judged[item.key].probs == pytest.approx(reference_probs(merged.eval(), root, item, "last"), abs=1e-5)
        assert judged[item.key].probs != pytest.approx(reference_probs(untuned, root, item, "last"), abs=1e-5)

    other = build_tiny_decoder(tmp_path / "other-decoder", seed=1)  # same shapes, other weights
    moved = tmp_path / "moved"
    shutil.copytree(root, moved)
    manifest = json.loads((moved / "flames_scorer.json").read_text(encoding="utf-8"))
    manifest["backbone"]["spec"] = str(other)
    (moved / "flames_scorer.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ScorerError, match="fingerprint"):
        score(make_scorer(f"flames:{moved}"), items)


class Interrupt(Exception):
    pass


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tiny_encoder: Path, labels: list[LabelRecord],
                                                                   tmp_path: Path) -> None:  # fmt: skip
    # No dev set: the saved weights are the last ones, so they depend on every step after the checkpoint
    # (data order, and dropout, which is on in the tiny BERT: the RNG state must be restored too).
    train, _ = by_model(labels)
    config = TrainConfig(backbone=str(tiny_encoder), eval_every=2, max_steps=6, **FAST)  # type: ignore[arg-type]
    whole = train_scorer(train, None, config, tmp_path / "whole")

    def stop_at_5(event: TrainEvent) -> None:
        if event.kind == "step" and event.step == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_scorer(train, None, config, tmp_path / "cut", on_event=stop_at_5)
    state = json.loads((tmp_path / "cut" / "checkpoint" / "state.json").read_text(encoding="utf-8"))
    assert state["loop"]["step"] == 4
    with pytest.raises(TrainingError, match="not empty"):
        train_scorer(train, None, config, tmp_path / "cut")
    with pytest.raises(TrainingError, match="config"):
        train_scorer(train, None, TrainConfig(**{**config.__dict__, "seed": 1}), tmp_path / "cut", resume=True)
    resumed = train_scorer(train, None, config, tmp_path / "cut", resume=True)
    assert not (tmp_path / "cut" / "checkpoint").exists() and resumed.manifest.training["steps"] == 6
    for rel in ("heads.safetensors", "backbone/model.safetensors"):
        a, b = load_file(whole.root / rel), load_file(resumed.root / rel)
        assert all(torch.equal(a[k], b[k]) for k in a), rel


def test_training_stops_when_dev_macro_f1_stops_improving(tiny_encoder: Path, labels: list[LabelRecord],
                                                          tmp_path: Path) -> None:  # fmt: skip
    train, dev = by_model(labels)
    frozen = {**FAST, "learning_rate": 1e-12}  # nothing changes, so the dev score never improves on the first
    config = TrainConfig(backbone=str(tiny_encoder), eval_every=1, max_steps=10, patience=2, **frozen)  # type: ignore[arg-type]
    result = train_scorer(train, dev, config, tmp_path / "stop")
    training = result.manifest.training
    assert (training["stopped_early"], training["steps"], training["best_step"]) == (True, 3, 1)


def test_untrained_heads_and_dev_only_dimensions(tiny_encoder: Path, labels: list[LabelRecord], tmp_path: Path) -> None:
    safety = [r for r in labels if r.dimension == Dimension.SAFETY]
    legality_dev = [r for r in labels if r.dimension == Dimension.LEGALITY][:6]
    config = TrainConfig(backbone=str(tiny_encoder), max_steps=1, **FAST)  # type: ignore[arg-type]
    result = train_scorer(safety, legality_dev + safety[:6], config, tmp_path / "s")
    dev = result.manifest.dev_metrics
    assert dev is not None and dev["dimensions"]["Legality"] == {
        "n": 0,
        "n_unscored": 6,
        "accuracy": None,
        "macro_f1": None,
    }
    assert dev["dimensions"]["Safety"]["n"] == 6 and info(Dimension.SAFETY).n_classes == 3


def test_settings_that_cannot_work_are_refused_before_training(tiny_encoder: Path, labels: list[LabelRecord],
                                                               tmp_path: Path) -> None:  # fmt: skip
    with pytest.raises(TrainingError, match="method 'qlora' is not one of full, lora"):
        TrainConfig(method="qlora").check()
    with pytest.raises(TrainingError, match="tfidf preset has no checkpoints"):
        train_scorer(labels, None, TrainConfig(), tmp_path / "t", resume=True)
    with pytest.raises(TrainingError, match="exceeds the 512 positions"):
        train_scorer(labels, None, TrainConfig(backbone=str(tiny_encoder), max_length=4096), tmp_path / "long")
    with pytest.raises(ScorerError, match="no such backbone folder"):
        train_scorer(labels, None, TrainConfig(backbone="./missing/model/dir"), tmp_path / "missing")


def test_accumulated_half_batches_and_checkpointing_take_the_same_first_step(
    tiny_decoder: Path, labels: list[LabelRecord], tmp_path: Path
) -> None:
    """The tiny LLaMA has no dropout, so one step on a batch of 8, on two accumulated batches of 4, and with
    gradient checkpointing (recomputed activations) must move the weights identically."""
    train, _ = by_model(labels)
    base = {**FAST, "backbone": str(tiny_decoder), "max_steps": 1, "warmup_ratio": 0.0}
    runs = {
        "whole": TrainConfig(**base),  # type: ignore[arg-type]
        "accumulated": TrainConfig(**{**base, "batch_size": 4, "grad_accum": 2}),  # type: ignore[arg-type]
        "checkpointed": TrainConfig(**base, gradient_checkpointing=True),  # type: ignore[arg-type]
    }
    heads = {name: load_file(train_scorer(train, None, c, tmp_path / name).root / "heads.safetensors")
             for name, c in runs.items()}  # fmt: skip
    untrained = TrainConfig(**{**base, "learning_rate": 1e-12})  # type: ignore[arg-type]
    start = load_file(train_scorer(train, None, untrained, tmp_path / "start").root / "heads.safetensors")
    for key in ("1.weight", "3.weight"):  # the Safety and Legality heads: the labels' dimensions
        assert not torch.allclose(heads["whole"][key], start[key], atol=1e-6), "the step moved the head"
        assert torch.allclose(heads["accumulated"][key], heads["whole"][key], atol=1e-5)
        assert torch.allclose(heads["checkpointed"][key], heads["whole"][key], atol=1e-6)


def test_bf16_lora_runs_on_cpu_too(tiny_decoder: Path, labels: list[LabelRecord], tmp_path: Path) -> None:
    """The GPU recipe (bf16 autocast, bf16 frozen backbone under LoRA, gradient checkpointing) on CPU."""
    train, dev = by_model(labels)
    config = TrainConfig(backbone=str(tiny_decoder), method="lora", bf16=True, gradient_checkpointing=True,
                         max_steps=2, **FAST)  # type: ignore[arg-type]  # fmt: skip
    result = train_scorer(train, dev[:6], config, tmp_path / "bf16")
    training = result.manifest.training
    assert (training["bf16"], training["gradient_checkpointing"], training["device"]) == (True, True, "cpu")
    judged = score(result.scorer(), [Item("x", Dimension.SAFETY, "问题", "回答")])
    assert judged["x"].score in (1, 2, 3)


@pytest.mark.gpu
def test_gpu_defaults_are_bf16_and_checkpointing(tiny_decoder: Path, labels: list[LabelRecord], tmp_path: Path) -> None:
    train, dev = by_model(labels)
    config = TrainConfig(backbone=str(tiny_decoder), method="lora", max_steps=2, **FAST)  # type: ignore[arg-type]
    result = train_scorer(train, dev[:6], config, tmp_path / "gpu")
    training = result.manifest.training
    assert training["device"] == "cuda" and training["gradient_checkpointing"] is True
    assert training["bf16"] is torch.cuda.is_bf16_supported()
    scorer = result.scorer()
    assert scorer.config()["dtype"] == "bfloat16"
    assert score(scorer, [Item("x", Dimension.SAFETY, "问题", "回答")])["x"].score in (1, 2, 3)
