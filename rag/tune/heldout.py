"""The held-out check of `rag tune`: is a tuned model clearly better than what it replaces?

Held-out questions (never trained on) are searched with the old and the new models.
A change is adopted only when its mean per-question nDCG@10 gain exceeds its own
standard error: a gain within the noise of a few dozen synthetic questions is no
evidence (on squad-a, 19 held-out LLM questions showed +0.003 for an encoder that
lost 0.023 on real questions). A reranker is mixed with the fused score at the
weight (rag.rerank.mix_order) that does best on the same questions.
"""

from __future__ import annotations

import time

from ingest.embedder import Embedder
from ingest.index import Index
from ingest.settings import Settings

from ..eval.metrics import mrr_at_k, ndcg_at_k, paired_gain, recall_at_k
from ..eval.retrieval import QueryVectors
from ..pipeline import search
from ..rerank import mix_order
from ..retrievers import retrievers_for
from .triples import Example

RERANK_WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def heldout_qrels(heldout: list[Example]) -> dict[str, dict[str, int]]:
    """Held-out question -> its relevant chunks (a judged question may have several)."""
    qrels: dict[str, dict[str, int]] = {}
    for e in heldout:
        qrels.setdefault(e.query, {})[e.positive_id] = 1
    return qrels


def _scores(ranking: list[str], relevant: dict[str, int]) -> tuple[float, float, float]:
    return ndcg_at_k(ranking, relevant), recall_at_k(ranking, relevant, 10), mrr_at_k(ranking, relevant)


def _means(rows: list[tuple[float, float, float]]) -> dict:
    n = max(len(rows), 1)
    return {name: round(sum(r[i] for r in rows) / n, 4) for i, name in enumerate(("ndcg@10", "recall@10", "mrr@10"))}


def search_heldout(qrels: dict[str, dict[str, int]], index: Index, embedder: Embedder, settings: Settings) -> dict:
    """Dense and hybrid search of every held-out question: mean nDCG@10, Recall@10 and
    MRR@10 per mode, and the per-question hybrid nDCG@10 that `clearly_better` compares."""
    if not qrels:
        return {}
    retrievers = retrievers_for(index, QueryVectors(embedder, list(qrels)), settings)
    out: dict = {}
    for mode in ("dense", "hybrid"):
        rows = [_scores([h.chunk.chunk_id for h in search(retrievers, q, 10, mode, settings)[0]], rel) for q, rel in qrels.items()]
        out[mode] = _means(rows)
        out[f"{mode}_per_question"] = [r[0] for r in rows]
    return out


def clearly_better(new: list[float], old: list[float]) -> dict:
    """Adopt only when the mean gain is positive and larger than its standard error."""
    gain, se = paired_gain(new, old)
    return {"gain": round(gain, 4), "standard_error": round(se, 4), "adopt": bool(new) and gain > 0 and gain > se}


def calibrate_rerank(qrels: dict[str, dict[str, int]], index: Index, embedder: Embedder, settings: Settings, reranker) -> dict:
    """Score each held-out question's fused top `rerank_depth` once, then find the mix
    weight with the best nDCG@10 and compare it with hybrid search alone."""
    if not qrels:
        return {}
    retrievers = retrievers_for(index, QueryVectors(embedder, list(qrels)), settings)
    rows: dict[float, list] = {w: [] for w in (0.0, *RERANK_WEIGHTS)}  # 0.0: hybrid alone
    t = time.perf_counter()
    for query, relevant in qrels.items():
        hits = search(retrievers, query, 100, "hybrid", settings)[0]
        head, tail = hits[: settings.rerank_depth], [h.chunk.chunk_id for h in hits[settings.rerank_depth :]]
        scores = reranker.score(query, [h.chunk.indexed_text for h in head])
        for w in rows:
            order, _ = mix_order([h.score for h in head], scores, w)
            rows[w].append(_scores([head[i].chunk.chunk_id for i in order] + tail, relevant))
    best = max(RERANK_WEIGHTS, key=lambda w: _means(rows[w])["ndcg@10"])  # ties: the smaller weight
    return {
        "weight": best,
        "rerank": _means(rows[best]) | {"ms_per_query": round(1000 * (time.perf_counter() - t) / len(qrels), 1)},
        "hybrid": _means(rows[0.0]),
        "ndcg@10_by_weight": {w: _means(rows[w])["ndcg@10"] for w in RERANK_WEIGHTS},
        "versus_hybrid": clearly_better([r[0] for r in rows[best]], [r[0] for r in rows[0.0]]),
    }
