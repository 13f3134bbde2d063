"""Retrievers over one index snapshot, all with `search(query, k) -> list[Hit]`.

Hits are sorted best first and at most `k` long; `k` larger than the collection
is fine. BM25 and dense search satisfy the same Protocol, so the hybrid retriever
composes them without knowing which is which.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ingest.embedder import Embedder
from ingest.index import ANN_THRESHOLD, Index, build_dense, choose_kind, dense_kind
from ingest.lexical import bm25_scores, bm25_weights, tokenize
from ingest.settings import FUSIONS

from .fusion import linear_fusion, reciprocal_rank_fusion
from .types import Hit


class Retriever(Protocol):
    def search(self, query: str, k: int) -> list[Hit]: ...


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (ties: lower index first)."""
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(scores.shape[0])
    return part[np.lexsort((part, -scores[part]))]


class BM25Retriever:
    """BM25 Okapi over the index's term-frequency matrix (see ingest.lexical)."""

    def __init__(self, index: Index, k1: float = 1.5, b: float = 0.75):
        self.index = index
        self.weights = bm25_weights(index.tf, k1, b)

    def scores(self, query: str) -> np.ndarray:
        return bm25_scores(self.weights, self.index.vocab, tokenize(query))

    def search(self, query: str, k: int) -> list[Hit]:
        if not len(self.index):
            return []
        scores = self.scores(query)
        return [Hit(self.index.chunks[i], float(scores[i])) for i in top_k(scores, k) if scores[i] > 0]


class DenseRetriever:
    """Inner product of unit vectors (cosine) in FAISS.

    Exact (Flat) search below `threshold` vectors, an HNSW graph above it (`ann`
    "auto"); "flat" or "hnsw" force one. A graph saved with the index is reused.
    """

    def __init__(self, index: Index, embedder: Embedder, ann: str = "auto", threshold: int = ANN_THRESHOLD):
        self.index = index
        self.embedder = embedder
        self.kind = choose_kind(len(index), ann, threshold)
        if index.dense is not None and dense_kind(index.dense) == self.kind and index.dense.ntotal == len(index):
            self.faiss = index.dense
        else:
            self.faiss = build_dense(index.vectors, self.kind, index.dim or 1)

    def search(self, query: str, k: int) -> list[Hit]:
        if not len(self.index) or k <= 0:
            return []
        scores, ids = self.faiss.search(self.embedder.embed([query], query=True), min(k, len(self.index)))
        return [Hit(self.index.chunks[i], float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0]


def retrievers_for(index: Index, embedder: Embedder, settings) -> dict[str, Retriever]:
    """The BM25 and dense retrievers over `index` that `settings` (ingest.settings.Settings) configure."""
    return {"bm25": BM25Retriever(index), "dense": DenseRetriever(index, embedder, settings.ann, settings.ann_threshold)}


class HybridRetriever:
    """Fuse the top `depth` of each retriever: reciprocal rank fusion, or a weighted sum
    of min-max / z-score normalised scores. At most 2 x depth distinct hits come back."""

    def __init__(
        self,
        retrievers: dict[str, Retriever],
        *,
        depth: int = 100,
        fusion: str = "rrf",
        rrf_k: float = 60.0,
        weights: Sequence[float] | None = None,
    ):
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be rrf, minmax or zscore; got fusion={fusion!r}")
        self.retrievers = retrievers
        self.depth = depth
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.weights = weights

    def search(self, query: str, k: int) -> list[Hit]:
        names = list(self.retrievers)
        rankings = [self.retrievers[n].search(query, self.depth) for n in names]
        for name, ranking in zip(names, rankings):  # keep each retriever's own score as evidence
            ranking[:] = [h.with_score(h.score, **{f"{name}_score": h.score}) for h in ranking]
        if self.fusion == "rrf":
            fused = reciprocal_rank_fusion(rankings, self.rrf_k, self.weights, names)
        else:
            fused = linear_fusion(rankings, self.weights, self.fusion, names)
        return fused[:k]
