"""Scorer training: training time and inference items/s of `flames scorer train` backbones, through the real
code path (`flames.training.train_scorer`, then the trained folder scored with `make_scorer("flames:DIR")`).

    python benchmarks/scorer_train.py                  # CPU: tfidf on 3,000 labels, a small decoder on 400
    python benchmarks/scorer_train.py --gpu            # GPU: a 0.5B-class decoder (Qwen2-0.5B shapes), LoRA, bf16
    python benchmarks/scorer_train.py --gpu --backbone /models/Qwen2.5-0.5B-Instruct   # a real local model

Labels are synthetic but realistic in length: Flames-1k prompts paired with 200-800-character Chinese answers
stitched from other prompts' text, each given a score on its dimension's scale at random (the time to fit
does not depend on the labels making sense; accuracy is not measured here, see `flames scorer validate`).
Decoders are built on the spot with random weights and a byte-level BPE tokenizer trained on the prompts
(no download). Each line printed is one configuration: labels, optimizer steps, wall time of training
(load, tokenisation, fitting, saving; imports excluded) and the CPU time of this process (all threads: on a
busy machine wall time overstates the cost), labels/s, and scoring items/s on the same answers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from flames.labels.records import LabelRecord
from flames.prompts import load_prompt_set
from flames.records import Item
from flames.scorers.registry import make_scorer
from flames.taxonomy import info
from flames.training import TrainConfig, train_scorer

SHARED_COPY = Path(__file__).resolve().parents[2] / "shared" / "data" / "flames-1k" / "Flames_1k_Chinese.jsonl"
SMALL_DECODER = {
    "hidden_size": 256,
    "intermediate_size": 688,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
}
QWEN2_05B = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
}


@dataclass(frozen=True)
class Figures:
    name: str
    labels: int
    steps: int
    train_s: float
    train_cpu_s: float
    scored: int
    score_s: float

    def line(self) -> str:
        return (
            f"{self.name:<42} labels {self.labels:>5}  steps {self.steps:>4}  train {self.train_s:7.1f} s wall, "
            f"{self.train_cpu_s:7.1f} s CPU ({self.labels / self.train_s:6.1f} labels/s)  "
            f"score {self.scored / self.score_s:7.1f} items/s"
        )


def synthetic_labels(n: int, seed: int) -> list[LabelRecord]:
    """n labels: Flames-1k prompts with 200-800-character answers and random scores on each dimension's scale."""
    prompt_set = load_prompt_set(str(SHARED_COPY) if SHARED_COPY.is_file() else "flames-1k")
    prompts = list(prompt_set.prompts)
    corpus = "".join(p.prompt for p in prompts)
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = prompts[i % len(prompts)]
        length = rng.randint(200, 800)
        start = rng.randrange(len(corpus) - length)
        out.append(
            LabelRecord(
                id=str(i),
                dimension=p.dimension,
                prompt=p.prompt,
                response="我理解你的问题。" + corpus[start : start + length],
                label=rng.choice(info(p.dimension).scale),
                source="synthetic",
                native_label="random",
                mapping={"rule": "random", "version": 1},
                provenance="human",
                license="CC0",
                model=f"m{i % 4}",
            )
        )
    return out


def build_decoder(root: Path, dims: dict[str, int], texts: list[str]) -> Path:
    """A LLaMA-architecture decoder with random weights and a byte-level BPE tokenizer trained on `texts`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=8000, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.save_pretrained(root)
    vocab = dims.get("vocab_size", tok.get_vocab_size())
    config = LlamaConfig(
        **{**dims, "vocab_size": vocab},
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        pad_token_id=fast.pad_token_id,
        eos_token_id=fast.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(root)
    return root


def measure(name: str, train: list[LabelRecord], config: TrainConfig, out: Path, score_items: list[Item]) -> Figures:
    started, cpu = time.perf_counter(), time.process_time()
    result = train_scorer(train, None, config, out)
    train_s, train_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    scorer = make_scorer(f"flames:{out}")

    async def score() -> float:
        await scorer.start()
        began = time.perf_counter()
        n = [j async for j in scorer.score(score_items)]
        elapsed = time.perf_counter() - began
        await scorer.close()
        assert len(n) == len(score_items)
        return elapsed

    score_s = asyncio.run(score())
    steps = int(result.manifest.training.get("steps", 0) or 0)
    return Figures(name, len(train), steps, train_s, train_cpu_s, len(score_items), score_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", action="store_true", help="0.5B-class decoder with LoRA on CUDA")
    parser.add_argument("--backbone", help="a local transformers folder instead of the random one (--gpu)")
    parser.add_argument("--tfidf-labels", type=int, default=3000)
    parser.add_argument("--decoder-labels", type=int, default=400)
    parser.add_argument("--gpu-labels", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch  # noqa: F401  (imported before timing starts)
    import transformers  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.gpu:
            labels = synthetic_labels(args.gpu_labels, args.seed)
            backbone = (
                Path(args.backbone)
                if args.backbone
                else build_decoder(work / "qwen2-0.5b-shape", QWEN2_05B, [r.prompt for r in labels])
            )
            config = TrainConfig(
                backbone=str(backbone), method="lora", epochs=1, batch_size=16, max_length=1024, device="cuda"
            )
            items = [Item(r.id, r.dimension, r.prompt, r.response) for r in labels[:1000]]
            print(
                measure(
                    f"decoder 0.5B-class LoRA r16 bf16 ({backbone.name})", labels, config, work / "gpu", items
                ).line()
            )
            return
        labels = synthetic_labels(args.tfidf_labels, args.seed)
        items = [Item(r.id, r.dimension, r.prompt, r.response) for r in labels[:1000]]
        print(measure("tfidf (char 1-3-grams, logistic heads)", labels, TrainConfig(), work / "tfidf", items).line())
        small = labels[: args.decoder_labels]
        backbone = build_decoder(work / "small-decoder", SMALL_DECODER, [r.prompt for r in labels])
        config = TrainConfig(backbone=str(backbone), epochs=1, batch_size=8, max_length=512, device="cpu")
        print(measure("decoder 4×256 full fine-tune, CPU float32", small, config, work / "decoder", items[:200]).line())


if __name__ == "__main__":
    main()
