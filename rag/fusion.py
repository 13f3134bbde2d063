"""Combine several rankings of the same collection into one (pure functions).

Reciprocal rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009): a document's
fused score is sum_r w_r / (k + rank_r(d)), with rank starting at 1. It needs no
score calibration between retrievers; k = 60 is the paper's constant, which damps
the influence of the very top ranks so that agreement between retrievers wins.

Linear fusion of normalised scores is the alternative: sum_r w_r * norm(score_r(d)),
with min-max or z-score normalisation per ranking, a document absent from a
ranking contributing the minimum of that ranking's normalised scores.

Adaptive fusion (`adaptive_weights`) is z-score fusion whose two weights are chosen
per query from evidence the query itself gives, without judgements: whether it holds
a term that is rare in the collection (a literal that BM25 pins down and dense
retrieval blurs), how far each ranking's top hit stands out from the rest of its
list, and whether the embedder knows the query's language at all (docs/EVAL.md,
"Fusion robustness", has the measurements behind each constant).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .types import Hit


def _weights(rankings: Sequence, weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"need one weight per ranking; got {len(weights)} weights for {len(rankings)} rankings")
    if any(w < 0 for w in weights):
        raise ValueError(f"weights must be non-negative; got {list(weights)}")
    return list(weights)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hit]],
    k: float = 60.0,
    weights: Sequence[float] | None = None,
    names: Sequence[str] | None = None,
) -> list[Hit]:
    """Fuse rankings by weighted reciprocal rank; ties keep first-seen order.

    Each returned hit records its rank in every input ranking as `<name>_rank`
    (names default to r0, r1, ...) and the fused score as `fused`.
    """
    if k < 0:
        raise ValueError(f"rrf k must be non-negative; got k={k}")
    ws = _weights(rankings, weights)
    names = list(names) if names else [f"r{i}" for i in range(len(rankings))]
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    evidence: dict[str, dict] = {}
    for name, w, ranking in zip(names, ws, rankings):
        for rank, hit in enumerate(ranking, start=1):
            cid = hit.chunk.chunk_id
            first.setdefault(cid, hit)
            evidence.setdefault(cid, {}).update(hit.scores, **{f"{name}_rank": rank})
            scores[cid] = scores.get(cid, 0.0) + w / (k + rank)
    order = sorted(scores, key=lambda c: -scores[c])  # sorted() is stable: ties keep insertion order
    return [first[c].with_score(scores[c], fused=scores[c], **evidence[c]) for c in order]


def normalise(scores: np.ndarray, method: str) -> np.ndarray:
    """Min-max to [0, 1], or z-score; a constant ranking maps to all ones / zeros."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    if method == "minmax":
        lo, hi = scores.min(), scores.max()
        return np.ones_like(scores) if hi == lo else (scores - lo) / (hi - lo)
    if method == "zscore":
        sd = scores.std()
        return np.zeros_like(scores) if sd == 0 else (scores - scores.mean()) / sd
    raise ValueError(f"normalisation must be 'minmax' or 'zscore'; got {method!r}")


def linear_fusion(
    rankings: Sequence[Sequence[Hit]],
    weights: Sequence[float] | None = None,
    method: str = "minmax",
    names: Sequence[str] | None = None,
) -> list[Hit]:
    """Fuse by a weighted sum of per-ranking normalised scores."""
    ws = _weights(rankings, weights)
    names = list(names) if names else [f"r{i}" for i in range(len(rankings))]
    first: dict[str, Hit] = {}
    evidence: dict[str, dict] = {}
    normed = []
    for name, ranking in zip(names, rankings):
        n = normalise(np.array([h.score for h in ranking]), method)
        normed.append({h.chunk.chunk_id: float(v) for h, v in zip(ranking, n)})
        for rank, h in enumerate(ranking, start=1):
            first.setdefault(h.chunk.chunk_id, h)
            evidence.setdefault(h.chunk.chunk_id, {}).update(h.scores, **{f"{name}_rank": rank})
    floors = [min(m.values()) if m else 0.0 for m in normed]
    scores = {cid: sum(w * m.get(cid, floor) for w, m, floor in zip(ws, normed, floors)) for cid in first}
    order = sorted(scores, key=lambda c: -scores[c])
    return [first[c].with_score(scores[c], fused=scores[c], **evidence[c]) for c in order]


def interpolate(first: Sequence[float], second: Sequence[float], weight: float) -> np.ndarray:
    """(1 - weight) x z(first) + weight x z(second): how a reranker's scores are mixed
    with the fused retrieval scores of the same candidates. Weight 1 is the reranker
    alone (right for a strong general one); a reranker trained on a few hundred
    questions ranks best mixed with the retrieval evidence it would otherwise throw
    away (interpolation as in Nogueira & Cho's BM25 + BERT runs; the weight is
    calibrated on held-out questions by rag.tune)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be between 0 and 1; got weight={weight}")
    return (1.0 - weight) * normalise(np.asarray(first), "zscore") + weight * normalise(np.asarray(second), "zscore")


# A query term counts as rare when its idf, as a share of the largest possible idf
# log(N), is above this: at 5,000 passages, a term in fewer than about 45 of them.
# Measured on SciFact, Cranfield, SQuAD and DBpedia-Entity (docs/EVAL.md): queries
# without such a term are where BM25 drags an equal mix below dense search alone.
RARE_TERM = 0.55
# Dense weight for a query made only of common words (BM25 keeps 1 - this).
COMMON_DENSE_WEIGHT = 0.9


def rarity(idfs: Sequence[float], n_docs: int) -> float:
    """The query's rarest term as a share of the largest possible idf, log(n_docs), in
    [0, 1]: 1 for a term no passage contains, 0 for a query without terms."""
    if not len(idfs):
        return 0.0
    if n_docs < 2:
        return 1.0
    return float(min(max(idfs) / np.log(n_docs), 1.0))


def standout(scores: Sequence[float]) -> float:
    """How far a ranking's best score stands out from its list: (max - mean) / std,
    0 for fewer than two scores or a constant list."""
    v = np.asarray(scores, dtype=np.float64)
    if v.size < 2 or v.std() == 0:
        return 0.0
    return float((v.max() - v.mean()) / v.std())


def adaptive_weights(
    query_rarity: float,
    bm25_scores: Sequence[float],
    dense_scores: Sequence[float],
    *,
    dense_trusted: bool = True,
    rare: float = RARE_TERM,
    common_dense: float = COMMON_DENSE_WEIGHT,
) -> tuple[float, float]:
    """(bm25 weight, dense weight) for z-score fusion of one query's two rankings.

    - The embedder does not know the query's language: BM25 alone (1, 0), since
      dense scores there are noise that can only drag the ranking down.
    - The query holds a rare term (`query_rarity` > `rare`): each ranking weighted by
      how far its top hit stands out, so the retriever that found something definite
      leads; an empty or flat ranking gets no weight.
    - Otherwise, only common words: mostly dense (1 - common_dense, common_dense).
    """
    if not dense_trusted:
        return 1.0, 0.0
    if query_rarity <= rare:
        return 1.0 - common_dense, common_dense
    b, d = standout(bm25_scores), standout(dense_scores)
    if b + d == 0:
        return 0.5, 0.5
    return b / (b + d), d / (b + d)
