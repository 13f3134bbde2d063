"""Retrievers over one index snapshot, all with `search(query, k) -> list[Hit]`.

A local index (ingest.index) is searched here in memory (BM25 CSR weights, FAISS);
a Milvus-held one through Milvus, with the same query analysis and the same
contract, so hybrid search and every fusion option run unchanged on both.

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
from ingest.language import collection_languages, covers, embedder_languages, query_language, query_languages
from ingest.lexical import bm25_scores, bm25_weights, query_tokens
from ingest.settings import FUSIONS

from .citations import Rarity
from .fusion import adaptive_weights, linear_fusion, rarity, reciprocal_rank_fusion
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


class _QueryTerms:
    """What both BM25 retrievers (on local files and on Milvus) derive from a query
    the same way, given `index` (with len), `languages` and `document_frequency(term)`."""

    def terms(self, query: str) -> list[str]:
        return query_tokens(query, query_languages(query, self.languages))

    def rarity(self, query: str) -> float:
        """rag.fusion.rarity of the query's terms here (a term no passage holds is rarest)."""
        n = len(self.index)
        return rarity([np.log(n / (self.document_frequency(t) + 1)) for t in self.terms(query)], n)


class BM25Retriever(_QueryTerms):
    """BM25 Okapi over the index's term-frequency matrix (see ingest.lexical).

    A query is analysed in its own language, or in each of the collection's
    languages (`languages`, from the chunks' detected languages) when its language
    is unsure, so it meets passages stemmed the way they were indexed.
    """

    def __init__(self, index: Index, k1: float = 1.5, b: float = 0.75):
        self.index = index
        self.weights = bm25_weights(index.tf, k1, b)
        self.languages = collection_languages(c.lang for c in index.chunks)
        self.df = np.diff(self.weights.indptr)  # passages holding each term (rows of W are terms)

    def document_frequency(self, term: str) -> int:
        i = self.index.vocab.get(term)
        return int(self.df[i]) if i is not None and i < len(self.df) else 0

    def scores(self, query: str) -> np.ndarray:
        return bm25_scores(self.weights, self.index.vocab, self.terms(query))

    def term_weights(self) -> Rarity:
        """Each term's idf here (rag.citations.Rarity), for the citation check."""
        return Rarity(self.document_frequency, len(self.index), lambda: iter(self.index.vocab))

    def search(self, query: str, k: int) -> list[Hit]:
        if not len(self.index):
            return []
        scores = self.scores(query)
        return [Hit(self.index.chunks[i], float(scores[i])) for i in top_k(scores, k) if scores[i] > 0]


def _trusts(self, lang: str) -> bool:
    """Whether the embedder was trained on `lang` (ingest.language.covers): both dense
    retrievers' `trusts`."""
    return covers(self.languages, lang)


class DenseRetriever:
    """Inner product of unit vectors (cosine) in FAISS.

    Exact (Flat) search below `threshold` vectors, an HNSW graph above it (`ann`
    "auto"); "flat" or "hnsw" force one. A graph saved with the index is reused.
    """

    def __init__(self, index: Index, embedder: Embedder, ann: str = "auto", threshold: int = ANN_THRESHOLD, languages: str = "auto"):
        self.index = index
        self.embedder = embedder
        self.languages = embedder_languages(embedder.name.split(" ")[0], languages)
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

    trusts = _trusts


class MilvusBM25Retriever(_QueryTerms):
    """BM25Retriever's contract over a Milvus-held collection (ingest.milvus): the
    query is analysed as BM25Retriever analyses it, Milvus's BM25 function scores it
    against the chunks' stored analysis, and `rarity` counts document frequencies in
    Milvus (a TEXT_MATCH count per query term, filtered to the live generation)."""

    def __init__(self, snapshot):
        self.index = snapshot
        counts = snapshot.language_counts
        self.languages = collection_languages(lang for lang, n in counts.items() for _ in range(n))
        self.document_frequency = snapshot.document_frequency

    def term_weights(self) -> Rarity:
        """Each term's idf here (rag.citations.Rarity), its document frequency counted in
        Milvus on lookup; the vocabulary, which Milvus keeps no list of, from one scan of
        the live rows' terms per generation (MilvusSnapshot.term_table)."""
        return Rarity(self.index.document_frequency, len(self.index), lambda: iter(self.index.term_table()))

    def search(self, query: str, k: int) -> list[Hit]:
        return [Hit(chunk, score) for chunk, score in self.index.bm25(self.terms(query), k) if score > 0]


class MilvusDenseRetriever:
    """DenseRetriever's contract over a Milvus-held collection: the same query vector,
    Milvus's inner-product search (FLAT, or the HNSW graph the collection was made with)."""

    def __init__(self, snapshot, embedder: Embedder, languages: str = "auto"):
        self.index = snapshot
        self.embedder = embedder
        self.languages = embedder_languages(embedder.name.split(" ")[0], languages)
        self.kind = snapshot.record.get("dense_index", "flat")

    def search(self, query: str, k: int) -> list[Hit]:
        if k <= 0:
            return []
        return [Hit(chunk, score) for chunk, score in self.index.dense(self.embedder.embed([query], query=True)[0], k)]

    trusts = _trusts


def retrievers_for(index, embedder: Embedder, settings) -> dict[str, Retriever]:
    """The BM25 and dense retrievers over `index` (an ingest.index.Index, or the snapshot
    of a Milvus-held collection, ingest.milvus.MilvusSnapshot) that `settings`
    (ingest.settings.Settings) configure."""
    if not isinstance(index, Index):
        return {"bm25": MilvusBM25Retriever(index), "dense": MilvusDenseRetriever(index, embedder, settings.embedder_languages)}
    return {"bm25": BM25Retriever(index), "dense": DenseRetriever(index, embedder, settings.ann, settings.ann_threshold, settings.embedder_languages)}


class HybridRetriever:
    """Fuse the top `depth` of each retriever: reciprocal rank fusion, a weighted sum
    of min-max / z-score normalised scores, or z-score fusion with weights chosen per
    query ("adaptive", rag.fusion.adaptive_weights; it needs the "bm25" and "dense"
    retrievers, and multiplies its weights by `weights`). At most 2 x depth distinct
    hits come back."""

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
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}; got fusion={fusion!r}")
        if fusion == "adaptive" and not {"bm25", "dense"} <= set(retrievers):
            raise ValueError(f"adaptive fusion needs a 'bm25' and a 'dense' retriever; got {sorted(retrievers)}")
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
        elif self.fusion == "adaptive":
            fused = linear_fusion(rankings, self.adaptive(query, dict(zip(names, rankings))), "zscore", names)
        else:
            fused = linear_fusion(rankings, self.weights, self.fusion, names)
        return fused[:k]

    def adaptive(self, query: str, rankings: dict[str, list[Hit]]) -> list[float]:
        """Per-query weights, in the order of `rankings`, times the static `weights`."""
        bm25, dense = self.retrievers["bm25"], self.retrievers["dense"]
        trusted = dense.trusts(query_language(query, bm25.languages))
        wb, wd = adaptive_weights(bm25.rarity(query), [h.score for h in rankings["bm25"]], [h.score for h in rankings["dense"]], dense_trusted=trusted)
        chosen = {"bm25": wb, "dense": wd}
        static = self.weights or [1.0] * len(rankings)
        return [chosen[name] * w for name, w in zip(rankings, static)]
