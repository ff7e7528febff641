"""Official scorer throughput: improved vs faithful mode, items/s and tokens/s, through the real code path.

Builds a random-weight checkpoint of the official architecture in the published layout (InternLM
config.json, a SentencePiece tokenizer trained on the prompts, safetensors shards with the official key
names), then scores the Flames-1k prompts paired with synthetic 200-800-character Chinese answers with
`flames.scorers.official.make_scorer`, once per mode, and prints one line per mode.

    python benchmarks/scorer_throughput.py                 # CPU: small model (4 layers, hidden 256)
    python benchmarks/scorer_throughput.py --full-7b       # GPU: 32 layers, hidden 4096, vocab 103168

`--full-7b` writes ~14 GB of bf16 weights to a temporary folder, then compares the improved mode (bf16,
sorted batches, 2048-token window) with the faithful one (float32, file order, 512 tokens) on 1,000 items.
Token counts come from the locally trained tokenizer (about one token per Chinese character), not the
official one, so tokens/s transfers better than items/s.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm
import torch
from safetensors.torch import save_file

from flames.prompts import load_prompt_set
from flames.records import Item, Judgment
from flames.scorers.official import make_scorer
from flames.taxonomy import DIMENSIONS, info

SHARED_COPY = Path(__file__).resolve().parents[2] / "shared" / "data" / "flames-1k" / "Flames_1k_Chinese.jsonl"
SMALL = {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4, "num_attention_heads": 4}
FULL_7B = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32}
OFFICIAL_VOCAB = 103168


def items_with_answers(prompts: list[tuple[str, str]], n: int, seed: int) -> list[Item]:
    """Prompts paired with 200-800-character answers stitched from other prompts' text (realistic Chinese)."""
    rng = random.Random(seed)
    corpus = "".join(text for _, text in prompts)
    items = []
    for i in range(n):
        dimension, prompt = prompts[i % len(prompts)]
        length = rng.randint(200, 800)
        start = rng.randrange(len(corpus) - length)
        answer = "我理解你的问题。" + corpus[start : start + length - 8]
        items.append(Item(str(i), info(dimension).dimension, prompt, answer))
    return items


def write_checkpoint(root: Path, dims: dict[str, int], texts: list[str], *, device: str, vocab: int | None) -> None:
    """A random checkpoint in the published layout: InternLM config, tokenizer.model, safetensors shards."""
    from transformers import LlamaConfig, LlamaModel

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=buf, vocab_size=8000, model_type="unigram",
        character_coverage=0.9995, byte_fallback=True, hard_vocab_limit=False, minloglevel=2,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
    )  # fmt: skip
    pieces = spm.SentencePieceProcessor(model_proto=buf.getvalue()).get_piece_size()
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    config = {
        "model_type": "internlm", "bias": True, "hidden_act": "silu", "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-6, "rotary": {"base": 10000, "type": "dynamic"}, "bos_token_id": 1,
        "eos_token_id": 2, "pad_token_id": 2, "tie_word_embeddings": False, "torch_dtype": str(dtype).split(".")[1],
        "vocab_size": vocab or pieces, **dims,
    }  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (root / "tokenizer.model").write_bytes(buf.getvalue())
    llama = LlamaConfig(
        vocab_size=config["vocab_size"], hidden_size=dims["hidden_size"], intermediate_size=dims["intermediate_size"],
        num_hidden_layers=dims["num_hidden_layers"], num_attention_heads=dims["num_attention_heads"],
        attention_bias=True, max_position_embeddings=2048,
    )  # fmt: skip
    torch.manual_seed(0)
    with torch.device(device):
        backbone = LlamaModel(llama).to(dtype)
    state = {f"model.{k}": v for k, v in backbone.state_dict().items()}
    del backbone
    for h, dim in enumerate(DIMENSIONS):
        state[f"classifiers.{h}.weight"] = torch.randn(info(dim).n_classes, dims["hidden_size"]) * 0.05
    layers = dims["num_hidden_layers"]
    first = {k for k in state if k.startswith("model.embed_tokens") or _layer(k) < layers // 2}
    weight_map = {}
    for n, keys in enumerate((sorted(first), sorted(state.keys() - first)), start=1):
        name = f"model-{n:05d}-of-00002.safetensors"
        save_file({k: state[k].contiguous().cpu() for k in keys}, root / name)
        weight_map.update(dict.fromkeys(keys, name))
    (root / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}), encoding="utf-8")


def _layer(key: str) -> int:
    parts = key.split(".")
    return int(parts[2]) if parts[1] == "layers" else 1 << 30


@dataclass
class Result:
    mode: str
    dtype: str
    load_s: float
    score_s: float
    items: int
    tokens: int
    truncated: int
    unscored: int

    def line(self) -> str:
        return (
            f"{self.mode:9} {self.dtype:9} load {self.load_s:6.1f} s  score {self.score_s:7.1f} s  "
            f"{self.items / self.score_s:8.2f} items/s  {self.tokens / self.score_s:9.0f} tokens/s  "
            f"truncated {self.truncated}/{self.items}  unscored {self.unscored}"
        )


async def run_mode(folder: Path, items: list[Item], *, faithful: bool, device: str | None, batch: int | None) -> Result:
    scorer = make_scorer(str(folder), faithful=faithful, device=device, batch_size=batch)
    dtype = str(scorer.config()["dtype"])
    t0 = time.perf_counter()
    await scorer.start()
    t1 = time.perf_counter()
    judgments: list[Judgment] = [j async for j in scorer.score(items)]  # results are on the host: synced
    t2 = time.perf_counter()
    await scorer.close()
    scored = [j for j in judgments if j.score is not None]
    return Result(
        mode="faithful" if faithful else "improved",
        dtype=dtype,
        load_s=t1 - t0,
        score_s=t2 - t1,
        items=len(judgments),
        tokens=sum(int(j.meta["tokens"]) for j in scored),
        truncated=sum(bool(j.meta["truncated"]) for j in scored),
        unscored=len(judgments) - len(scored),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full-7b", action="store_true", help="full 7B architecture, bf16, on a CUDA GPU")
    parser.add_argument("--items", type=int, default=1000, help="items to score")
    parser.add_argument("--batch-size", type=int, default=None, help="improved mode batch size (default 16)")
    parser.add_argument("--prompts", default=str(SHARED_COPY) if SHARED_COPY.is_file() else "flames-1k")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.full_7b and not torch.cuda.is_available():
        parser.error("--full-7b needs a CUDA GPU")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if args.full_7b else "cpu"
    prompt_set = load_prompt_set(args.prompts)
    prompts = [(p.dimension.value, p.prompt) for p in prompt_set.prompts]
    items = items_with_answers(prompts, args.items, seed=0)
    with tempfile.TemporaryDirectory(prefix="flames-scorer-bench-") as tmp:
        folder = Path(tmp) / "checkpoint"
        t0 = time.perf_counter()
        write_checkpoint(
            folder, FULL_7B if args.full_7b else SMALL, [t for _, t in prompts], device=device,
            vocab=OFFICIAL_VOCAB if args.full_7b else None,
        )  # fmt: skip
        print(f"checkpoint written in {time.perf_counter() - t0:.1f} s to {folder}")
        arch = "InternLM-7B architecture (random weights)" if args.full_7b else f"small random InternLM {SMALL}"
        hardware = torch.cuda.get_device_name() if args.full_7b else f"CPU, {torch.get_num_threads()} threads"
        print(f"{arch}; {len(items)} items with 200-800-character answers; {hardware}; torch {torch.__version__}")
        for faithful in (False, True):
            batch = None if faithful else args.batch_size
            print(asyncio.run(run_mode(folder, items, faithful=faithful, device=device, batch=batch)).line())


if __name__ == "__main__":
    main()
