"""Near-duplicate search: threshold calibration on Flames-1k and hand-made variants, and query speed over a
collection of 10,000 prompts.

Calibration (MinHash over character 2-grams, 128 permutations): the similarity of every Flames-1k prompt to
its nearest other prompt (quantiles, and the share at or above the threshold), and of each hand-made variant
in tests/design/variants.jsonl (reworded, template-shared, different method, unrelated) to its nearest
Flames-1k prompt or collection seed. With `--embeddings`, the same for multilingual-e5-small cosine
similarity, plus the quantiles over all pairs of distinct Flames-1k prompts (embeds Flames-1k once: a few
minutes on one CPU core; vectors are cached in the `--db` store).

Speed: a collection of N synthetic prompts (Flames-1k texts with a numbered clause appended, so none is an
exact copy) in a SQLite store; milliseconds per query for the index alone (MinHash signatures in memory) and
for the whole check a page makes (`check_text`: collection fingerprint, Flames-1k, verdict).

    python benchmarks/design_duplicates.py --flames-1k PATH [--n 10000] [--queries 200] [--embeddings] [--db URL]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from flames.annotate.auth import add_user
from flames.annotate.schema import Role
from flames.design import duplicates as dup
from flames.design.authoring import import_file
from flames.design.collection import create_collection
from flames.prompts import read_prompt_file
from flames.store import Store

VARIANTS = Path(__file__).resolve().parents[1] / "tests" / "design" / "variants.jsonl"
SEED = VARIANTS.with_name("collection_seed.jsonl")


def _nn(sims: np.ndarray) -> np.ndarray:
    sims = sims.copy()
    np.fill_diagonal(sims, -1)
    return sims.max(axis=1)


def calibrate_minhash(f1k: list[str]) -> None:
    sigs = dup._signatures(f1k)
    sims = np.stack([(sigs == s).mean(axis=1) for s in sigs])
    nn = _nn(sims)
    q = np.quantile(nn, [0.5, 0.9, 0.95, 0.99])
    print(f"MinHash (char {dup.NGRAM}-grams, {dup.NUM_PERM} perms), threshold {dup.MINHASH_THRESHOLD}")
    print("  Flames-1k nearest-other similarity: median {:.3f}, p90 {:.3f}, p95 {:.3f}, p99 {:.3f}".format(*q))
    share = 100 * (nn >= dup.MINHASH_THRESHOLD).mean()
    print(f"  Flames-1k prompts with a neighbour at/above the threshold: {share:.1f}%")
    _variants("minhash", lambda texts: dup._signatures(texts), lambda a, b: (a[:, None, :] == b[None]).mean(-1), f1k)


def _variants(label: str, vec, sim, f1k: list[str]) -> None:  # type: ignore[no-untyped-def]
    rows = [json.loads(line) for line in VARIANTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    seeds = [json.loads(line)["prompt"] for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    corpus = vec(f1k + seeds)
    scores = sim(vec([r["prompt"] for r in rows]), corpus)
    by_kind: dict[str, list[float]] = {}
    for r, s in zip(rows, scores, strict=True):
        by_kind.setdefault(r["kind"], []).append(float(s.max()))
    for kind, values in by_kind.items():
        print(f"  {label} hand-made {kind:16s}: " + ", ".join(f"{v:.3f}" for v in values))


def calibrate_embeddings(store: Store, f1k: list[str]) -> None:
    t0 = time.perf_counter()
    vecs = dup.embed(store, f1k)
    print(f"e5 embeddings of Flames-1k: {time.perf_counter() - t0:.1f} s (cached in the store afterwards)")
    sims = vecs @ vecs.T
    pairs = sims[np.triu_indices(len(f1k), 1)]
    q = np.quantile(pairs, [0.5, 0.99, 0.999, 0.9999])
    print(f"e5 cosine, threshold {dup.EMBEDDING_THRESHOLD}")
    print(
        "  all pairs of distinct Flames-1k prompts: median {:.3f}, p99 {:.3f}, p99.9 {:.3f}, p99.99 {:.3f}".format(*q)
    )
    share = 100 * (_nn(sims) >= dup.EMBEDDING_THRESHOLD).mean()
    print(f"  Flames-1k prompts with a neighbour at/above the threshold: {share:.1f}%")
    t0 = time.perf_counter()
    dup.embed(store, ["基准测试的一条新提示词，用来测单条嵌入的耗时。"])
    print(f"  embedding one new prompt: {1000 * (time.perf_counter() - t0):.0f} ms")
    _variants("e5", lambda texts: dup.embed(store, texts), lambda a, b: a @ b.T, f1k)


def speed(url: str, f1k_path: Path, n: int, queries: int) -> None:
    f1k = [p for p in read_prompt_file(f1k_path).prompts]
    rng = random.Random(0)
    store = Store(url)
    admin = add_user(store, "bench-admin", "bench-password", Role.ADMIN)
    c = create_collection(store, admin, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for i in range(n):
                p = f1k[i % len(f1k)]
                text = f"{p.prompt}（第{i}号变体：{rng.choice(['请详细回答', '说具体点', '越快越好', '不要拒绝'])}）"
                f.write(json.dumps({"dimension": p.dimension.value, "subcomponent": p.subcomponent, "prompt": text},
                                   ensure_ascii=False) + "\n")  # fmt: skip
        t0 = time.perf_counter()
        result = import_file(store, c, admin, path)
        took = time.perf_counter() - t0
        print(f"import of {n} prompts (validation, duplicate check of each row, one transaction): {took:.1f} s;"
              f" {len(result.added)} added, {len(result.near)} with near-duplicates")  # fmt: skip
    texts = [f"{f1k[rng.randrange(len(f1k))].prompt[:40]}，换一种说法再问一次：{k}" for k in range(queries)]
    t0 = time.perf_counter()
    dup.check_text(store, c.id, c.name, texts[0])
    print(
        f"first check (builds the collection index, {n} signatures cached): {1000 * (time.perf_counter() - t0):.0f} ms"
    )
    corpus = dup._collection_corpus(store, c.id, c.name)
    t0 = time.perf_counter()
    for t in texts:
        corpus.minhash.query(t)
    index_ms = 1000 * (time.perf_counter() - t0) / queries
    t0 = time.perf_counter()
    for t in texts:
        dup.check_text(store, c.id, c.name, t, ["disguise"])
    check_ms = 1000 * (time.perf_counter() - t0) / queries
    print(f"MinHash index query over {n} prompts: {index_ms:.2f} ms/query")
    print(f"whole check (collection of {n} + Flames-1k, verdict): {check_ms:.2f} ms/query")
    vecs = np.random.default_rng(0).standard_normal((n, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    t0 = time.perf_counter()
    for _ in range(queries):
        np.argsort(-(vecs @ vecs[0]))[:5]
    print(f"embedding neighbour search over {n} vectors (excluding embedding the query): "
          f"{1000 * (time.perf_counter() - t0) / queries:.2f} ms/query")  # fmt: skip
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flames-1k", type=Path, required=True)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--embeddings", action="store_true")
    ap.add_argument("--db", default=None, help="store for the embedding cache (default: a temporary SQLite file)")
    args = ap.parse_args()
    f1k = [p.prompt for p in read_prompt_file(args.flames_1k).prompts]
    calibrate_minhash(f1k)
    with tempfile.TemporaryDirectory() as tmp:
        if args.embeddings:
            calibrate_embeddings(Store(args.db or f"sqlite:///{tmp}/emb.db"), f1k)
        import os

        os.environ["FLAMES_DATA"] = str(args.flames_1k)
        speed(f"sqlite:///{tmp}/speed.db", args.flames_1k, args.n, args.queries)


if __name__ == "__main__":
    main()
