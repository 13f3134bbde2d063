"""The held-out check of `rag tune`: is a tuned model clearly better than what it replaces?

Held-out questions (never trained on) are searched with the old and the new models.
A change is adopted only when its mean per-question nDCG@10 gain exceeds its own
standard error: a gain within the noise of a few dozen synthetic questions is no
evidence (on squad-a, 19 held-out LLM questions showed +0.003 for an encoder that
lost 0.023 on real questions). A reranker is mixed with the fused score at the
weight (rag.rerank.mix_order) that does best on the same questions, and the fusion of
BM25 and dense search is calibrated on them too (`calibrate_fusion`): a fixed mix that
clearly beats the query-adaptive default on this collection's questions replaces it.
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
from .progress import Tracker
from .triples import Example

RERANK_WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# The fusions a tuned collection may adopt instead of the default (the first): a few
# fixed z-score mixes from BM25-leaning to dense-leaning, and plain RRF. A short list
# on purpose: each candidate is one more chance for noise to look like a gain.
FUSION_CANDIDATES = (
    {"fusion": "adaptive", "bm25_weight": 1.0, "dense_weight": 1.0},
    {"fusion": "zscore", "bm25_weight": 0.7, "dense_weight": 0.3},
    {"fusion": "zscore", "bm25_weight": 0.5, "dense_weight": 0.5},
    {"fusion": "zscore", "bm25_weight": 0.3, "dense_weight": 0.7},
    {"fusion": "zscore", "bm25_weight": 0.1, "dense_weight": 0.9},
    {"fusion": "rrf", "bm25_weight": 1.0, "dense_weight": 1.0},
)
FEW_HELDOUT = 10  # below this, the verdict warns that only a large gain can show


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


def search_heldout(qrels: dict[str, dict[str, int]], index: Index, embedder: Embedder, settings: Settings, tracker: Tracker | None = None) -> dict:
    """Dense and hybrid search of every held-out question: mean nDCG@10, Recall@10 and
    MRR@10 per mode, and the per-question hybrid nDCG@10 that `clearly_better` compares."""
    if not qrels:
        return {}
    tracker = tracker or Tracker()
    tracker.update(0.0, f"searching {len(qrels)} held-out questions")
    retrievers = retrievers_for(index, QueryVectors(embedder, list(qrels)), settings)
    out: dict = {}
    for i, mode in enumerate(("dense", "hybrid")):
        tracker.update(0.5 * i, f"searching {len(qrels)} held-out questions ({mode})")
        rows = [_scores([h.chunk.chunk_id for h in search(retrievers, q, 10, mode, settings)[0]], rel) for q, rel in qrels.items()]
        out[mode] = _means(rows)
        out[f"{mode}_per_question"] = [r[0] for r in rows]
    return out


def clearly_better(new: list[float], old: list[float]) -> dict:
    """Adopt only when the mean gain is positive and larger than its standard error."""
    gain, se = paired_gain(new, old)
    return {"gain": round(gain, 4), "standard_error": round(se, 4), "adopt": bool(new) and gain > 0 and gain > se}


def fusion_label(choice: dict) -> str:
    """'adaptive', 'rrf' or 'z-score 0.3/0.7' (BM25 / dense weights)."""
    if choice["fusion"] == "zscore":
        return f"z-score {choice['bm25_weight']:g}/{choice['dense_weight']:g}"
    return choice["fusion"]


def calibrate_fusion(qrels: dict[str, dict[str, int]], index: Index, embedder: Embedder, settings: Settings, tracker: Tracker | None = None) -> dict:
    """Hybrid nDCG@10 of the held-out questions under each of FUSION_CANDIDATES; the best
    is adopted only when it clearly beats the default (the first candidate)."""
    if not qrels:
        return {}
    tracker = tracker or Tracker()
    retrievers = retrievers_for(index, QueryVectors(embedder, list(qrels)), settings)
    rows = []
    for n, choice in enumerate(FUSION_CANDIDATES):
        tracker.update(n / len(FUSION_CANDIDATES), f"calibrating fusion on {len(qrels)} held-out questions ({fusion_label(choice)})")
        chosen = settings.replace(**choice)
        rows.append([_scores([h.chunk.chunk_id for h in search(retrievers, q, 10, "hybrid", chosen)[0]], rel)[0] for q, rel in qrels.items()])
    best = max(range(len(rows)), key=lambda i: sum(rows[i]))  # ties: the earlier, the default first
    return {
        "fusion": FUSION_CANDIDATES[best],
        "ndcg@10_by_fusion": {fusion_label(c): round(sum(r) / len(r), 4) for c, r in zip(FUSION_CANDIDATES, rows)},
        "versus_default": clearly_better(rows[best], rows[0]),
    }


def calibrate_rerank(qrels: dict[str, dict[str, int]], index: Index, embedder: Embedder, settings: Settings, reranker, tracker: Tracker | None = None) -> dict:
    """Score each held-out question's fused top `rerank_depth` once, then find the mix
    weight with the best nDCG@10 and compare it with hybrid search alone."""
    if not qrels:
        return {}
    tracker = tracker or Tracker()
    retrievers = retrievers_for(index, QueryVectors(embedder, list(qrels)), settings)
    rows: dict[float, list] = {w: [] for w in (0.0, *RERANK_WEIGHTS)}  # 0.0: hybrid alone
    t = time.perf_counter()
    for n, (query, relevant) in enumerate(qrels.items()):
        tracker.update(n / len(qrels), f"checking the trained reranker, held-out question {n + 1} of {len(qrels)}")
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


def verdict(report: dict) -> str:
    """The held-out check's verdict on a `rag tune` report (rag.tune.stages.run), in words
    for the person who asked for the tuning."""
    encoder, calibration = report.get("encoder_versus_untuned") or {}, report.get("rerank_calibration") or {}
    if not encoder or not calibration:
        return "Nothing was adopted: no questions were held out to check the tuned models on, and a model is never switched on unchecked. The collection is unchanged."
    n = report["examples"]["heldout"]
    before, after = report["heldout_before"]["hybrid"]["ndcg@10"], report["heldout_after"]["hybrid"]["ndcg@10"]
    lines = [f"The tuned encoder was {_adopted(encoder)}: on {n} held-out questions, hybrid search scored nDCG@10 {before:.3f} → {after:.3f} ({_reason(encoder)})."]
    hybrid, reranked = calibration["hybrid"]["ndcg@10"], calibration["rerank"]["ndcg@10"]
    searched = "the tuned encoder's hybrid search" if report["adopt_embedder"] else "hybrid search"
    lines.append(f"The trained reranker was {_adopted(calibration['versus_hybrid'])}: mixed in at weight {calibration['weight']}, it moved {searched} from nDCG@10 {hybrid:.3f} to {reranked:.3f} ({_reason(calibration['versus_hybrid'])}).")
    fusion = report.get("fusion_calibration") or {}
    if fusion and fusion["fusion"] != FUSION_CANDIDATES[0]:
        label, scores = fusion_label(fusion["fusion"]), fusion["ndcg@10_by_fusion"]
        lines.append(f"Fusion {label} was {_adopted(fusion['versus_default'])} over the adaptive default: nDCG@10 {scores[fusion_label(FUSION_CANDIDATES[0])]:.3f} → {scores[label]:.3f} ({_reason(fusion['versus_default'])}).")
    if n < FEW_HELDOUT:
        lines.append(f"Only {n} questions were held out, too few to tell a small gain from noise.")
    if report["adopt_embedder"] or report["adopt_reranker"] or report.get("adopt_fusion"):
        lines.append("Searches use what was adopted from now on.")
    else:
        lines.append("The collection is unchanged: searches work as before.")
    return " ".join(lines)


def _adopted(check: dict) -> str:
    return "adopted" if check["adopt"] else "not adopted"


def _reason(check: dict) -> str:
    """Why `clearly_better` decided as it did, e.g. "+0.041, more than its standard error of 0.012"."""
    gain, se = check["gain"], check["standard_error"]
    if check["adopt"]:
        return f"{gain:+.3f}, more than its standard error of {se:.3f}"
    if gain < 0:
        return f"{gain:+.3f}: worse"
    if gain == 0:
        return "no change"
    return f"{gain:+.3f}, within its standard error of {se:.3f}, so it may be noise"
