"""Retrieval metrics: pure functions over one query's ranking and its judgements.

Relevance is graded (gain = grade, as trec_eval and BEIR compute nDCG); a ranking is
a list of document ids, best first; judgements map document id to grade.
"""

from __future__ import annotations

import math

import numpy as np


def ndcg_at_k(ranking: list[str], qrels: dict[str, int], k: int = 10) -> float:
    """Normalised discounted cumulative gain: sum grade / log2(rank + 1), divided by
    the same sum for the ideal ordering of all judged-relevant documents."""
    dcg = sum(qrels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: list[str], qrels: dict[str, int], k: int) -> float:
    """Share of the relevant documents found in the top k."""
    relevant = {d for d, g in qrels.items() if g > 0}
    return len(relevant & set(ranking[:k])) / len(relevant) if relevant else 0.0


def mrr_at_k(ranking: list[str], qrels: dict[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document in the top k (0 if none)."""
    for i, d in enumerate(ranking[:k]):
        if qrels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def overlap_at_k(approx: list[str], exact: list[str], k: int = 10) -> float:
    """ANN recall: share of the exact top k that the approximate search also returns."""
    truth = set(exact[:k])
    return len(truth & set(approx[:k])) / len(truth) if truth else 1.0


def paired_gain(new: list[float], old: list[float]) -> tuple[float, float]:
    """Mean per-query improvement of `new` over `old` and its standard error (sample
    standard deviation of the differences / sqrt(n); 0 with fewer than two queries)."""
    if len(new) != len(old):
        raise ValueError(f"need one score per query in both runs; got {len(new)} and {len(old)}")
    d = np.asarray(new, dtype=np.float64) - np.asarray(old, dtype=np.float64)
    if d.size == 0:
        return 0.0, 0.0
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else 0.0
