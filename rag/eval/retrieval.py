"""Retrieval evaluation: every query of a dataset through the app's own `search()`.

The runner indexes a corpus in memory (one document = one passage, title as its
heading), caches corpus embeddings on disk keyed by model and corpus hash, and
searches with the same `search()` the app uses, so the numbers describe what runs.
Queries without any relevant document are skipped, as BEIR does (rag.eval.datasets).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ingest.embedder import Embedder
from ingest.index import Index, build_dense
from ingest import language
from ingest.lexical import chunk_tokens, term_counts
from ingest.settings import Settings
from ingest.types import Chunk

from ..pipeline import search
from ..retrievers import retrievers_for
from .datasets import Dataset
from .metrics import mrr_at_k, ndcg_at_k, overlap_at_k, recall_at_k

log = logging.getLogger(__name__)


def corpus_index(dataset: Dataset, embedder: Embedder, cache_dir: str | Path, progress: bool = True) -> Index:
    """An in-memory Index of the corpus (each passage's language detected, as ingest
    does), with embeddings cached on disk."""
    chunks = language.tag(Chunk(doc_id, doc_id, dataset.name, 1, 0, len(text), text, title) for doc_id, (title, text) in dataset.corpus.items())
    texts = [c.indexed_text for c in chunks]
    vectors = cached_vectors(embedder, texts, cache_dir, dataset.name, progress)
    vocab: dict[str, int] = {}
    tf = term_counts(chunk_tokens(chunks), vocab)
    return Index(embedder=embedder.name, dim=int(vectors.shape[1]), chunks=chunks, vectors=vectors, tf=tf, vocab=vocab)


def stored_corpus(index: Index, settings: Settings, name: str):
    """`index` where `settings.backend` keeps collections: itself on the local backend;
    on Milvus, loaded into a collection (Milvus Lite in the cache folder, or the
    server SOURCED_MILVUS_URI names) recorded in `<cache>/eval-collections/<name>`,
    replaced on every run. Vectors come from `index`: nothing is embedded again."""
    if settings.backend == "local":
        return index
    from ingest import backends
    from ingest import index as store
    from ingest.milvus import MilvusBackend

    folder = Path(settings.cache) / "eval-collections" / name
    with store.write_lock(folder):
        MilvusBackend(settings.storage()).rebuild(folder, index, ann=settings.ann)
    return backends.load(folder, index.embedder, settings.storage())


def cached_vectors(embedder: Embedder, texts: list[str], cache_dir: str | Path, label: str, progress: bool = True) -> np.ndarray:
    """Passage vectors of `texts`, from the cache when this model embedded them before."""
    digest = hashlib.sha256(embedder.name.encode() + b"\0" + "\0".join(texts).encode()).hexdigest()[:24]
    cache = Path(cache_dir) / "embeddings" / f"{label}-{digest}.npy"
    if cache.exists():
        return np.load(cache, allow_pickle=False)
    vectors = embed_with_progress(embedder, texts, f"embedding {label}", progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, vectors, allow_pickle=False)
    tmp.replace(cache)
    return vectors


def embed_with_progress(embedder: Embedder, texts: list[str], label: str, progress: bool, batch: int = 256, each: Callable[[int], None] | None = None) -> np.ndarray:
    """Passage vectors of `texts` in batches, with a tqdm bar on stderr when `progress`;
    `each(done)` is called before every batch (and may raise to stop)."""
    from tqdm import tqdm

    parts = []
    with tqdm(total=len(texts), desc=label, unit="doc", disable=not progress) as bar:
        for i in range(0, len(texts), batch):
            if each is not None:
                each(i)
            parts.append(embedder.embed(texts[i : i + batch]))
            bar.update(len(texts[i : i + batch]))
    return np.vstack(parts)


# ---------------------------------------------------------------- runner


class QueryVectors:
    """An Embedder for queries whose vectors were computed in one batch beforehand
    (and kept for the next evaluation with the same embedder in this process)."""

    _seen: dict[str, dict[str, np.ndarray]] = {}
    _ms_per_query: dict[str, float] = {}  # measured when first embedded, charged on reuse

    def __init__(self, embedder: Embedder, queries: list[str]):
        self.name, self.dim = embedder.name, embedder.dim
        self.cache = self._seen.setdefault(embedder.name, {})
        missing = [q for q in dict.fromkeys(queries) if q not in self.cache]
        if missing:
            t = time.perf_counter()
            vectors = embedder.embed(missing, query=True)
            self._ms_per_query[embedder.name] = 1000 * (time.perf_counter() - t) / len(missing)
            self.cache.update({q: vectors[i : i + 1] for i, q in enumerate(missing)})
        self.embedder = embedder
        self.seconds = len(queries) * self._ms_per_query.get(embedder.name, 0.0) / 1000

    def embed(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        if query and len(texts) == 1 and texts[0] in self.cache:
            return self.cache[texts[0]]
        return self.embedder.embed(texts, query=query)


def evaluate(dataset: Dataset, index, embedder: Embedder, settings: Settings, mode: str, *, reranker=None, limit: int | None = None, progress: bool = False) -> dict:
    """Run every (or the first `limit`) query through `search()` and average the metrics."""
    from tqdm import tqdm

    qids = list(dataset.queries)[:limit] if limit else list(dataset.queries)
    texts = [dataset.queries[q] for q in qids]
    query_embedder = QueryVectors(embedder, texts) if mode != "bm25" else embedder
    embed_s = query_embedder.seconds if mode != "bm25" else 0.0
    retrievers = retrievers_for(index, query_embedder, settings)
    dense = retrievers["dense"]
    totals = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    search_s = 0.0
    k = 100
    for qid, text in tqdm(list(zip(qids, texts)), desc=f"{dataset.name} {mode}", unit="q", disable=not progress):
        t = time.perf_counter()
        hits, _ = search(retrievers, text, k, mode, settings, reranker if mode == "rerank" else None)
        search_s += time.perf_counter() - t
        ranking = [h.chunk.chunk_id for h in hits]
        rels = dataset.qrels[qid]
        totals["ndcg@10"] += ndcg_at_k(ranking, rels, 10)
        totals["recall@10"] += recall_at_k(ranking, rels, 10)
        totals["recall@100"] += recall_at_k(ranking, rels, 100)
        totals["mrr@10"] += mrr_at_k(ranking, rels, 10)
    n = max(len(qids), 1)
    result = {"dataset": dataset.name, "mode": mode, "queries": len(qids), **{m: round(v / n, 4) for m, v in totals.items()}}
    result["ms_per_query"] = round(1000 * (search_s + embed_s) / n, 2)
    result["ann"] = dense.kind
    result["ann_recall@10"] = 1.0 if dense.kind == "flat" else ann_recall(dense, query_embedder, texts) if hasattr(dense, "faiss") else None
    return result


def ann_recall(dense, embedder: Embedder, queries: list[str], k: int = 10) -> float:
    """Mean overlap of the approximate top k with exact (Flat) search on the same queries."""
    vectors = np.vstack([embedder.embed([q], query=True) for q in queries])
    exact = build_dense(dense.index.vectors, "flat")
    _, exact_ids = exact.search(vectors, k)
    _, approx_ids = dense.faiss.search(vectors, k)
    return round(float(np.mean([overlap_at_k(list(a), list(e), k) for a, e in zip(approx_ids, exact_ids)])), 4)
