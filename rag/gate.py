"""The evidence gate: decide from retrieval evidence whether the documents can answer.

A small model asked a question its sources do not cover invents an answer; the gate
stops that before generation. Two signals, calibrated on data by
bench/calibrate_gate.py (docs/GATE.md): the best dense cosine among the retrieved
passages, and query coverage, the share of the question's content words that a
top passage contains. A question is answered when

    dense + coverage_weight x coverage >= threshold

and, where no dense score exists (BM25-only search) or no threshold is known for the
embedder, when coverage alone reaches `min_coverage`. A cosine's scale belongs to its
embedder (MiniLM's unrelated passages score ~0.2, an e5 model's ~0.7), so the threshold
and weight come from `CALIBRATED` for the embedder in use unless settings give them. With a reranker loaded, its top score must also reach
`min_rerank` when that is set (a reranker's scale is its own; calibrate it first).

When the answering adapter answers, the gate is not the last refusal: the adapter refuses
itself when no sentence stands out or when it is sure (rag.verbatim's ANSWER_AT and
REFUSE_AT). Its threshold (`adapter_threshold`) was calibrated with those, by
bench/calibrate_refusal.py: the gate's own threshold was chosen for a model that answers
whatever passes, and with the adapter it refused answerable questions that the adapter
answers rightly (docs/EVAL.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.lexical import tokenize
from ingest.models import DEFAULT_EMBEDDER

from .types import Hit


@dataclass(frozen=True)
class Verdict:
    answerable: bool
    evidence: float
    reason: str


def query_coverage(query: str, hits: list[Hit], top: int = 3) -> float:
    """Largest share of the query's content words found in any of the top passages."""
    terms = set(tokenize(query))
    if not terms:
        return 0.0
    return max((len(terms & set(tokenize(h.chunk.indexed_text))) / len(terms) for h in hits[:top]), default=0.0)


def dense_evidence(hits: list[Hit]) -> float | None:
    """Best cosine similarity among the passages the dense retriever scored (None: no dense scores)."""
    scores = [h.scores["dense_score"] for h in hits if "dense_score" in h.scores]
    return max(scores) if scores else None


# Thresholds measured per embedder by bench/calibrate_gate.py (docs/GATE.md); the one
# with the answering adapter by bench/calibrate_refusal.py (docs/EVAL.md).
CALIBRATED = {
    DEFAULT_EMBEDDER: {"threshold": 0.57, "coverage_weight": 0.3, "adapter_threshold": 0.50},
    "all-MiniLM-L6-v2": {"threshold": 0.57, "coverage_weight": 0.3, "adapter_threshold": 0.50},
}
DEFAULT_COVERAGE_WEIGHT = 0.3


def calibration(embedder: str) -> dict:
    """The gate's calibrated threshold and coverage weight for an embedder id ({} when unknown)."""
    return CALIBRATED.get(embedder, {})


def options(settings, adapter: bool = False) -> dict:
    """The keyword arguments of `decide` that settings (ingest.settings.Settings) choose:
    their own threshold and weight, else the embedder's calibrated ones (threshold None:
    none known, coverage decides); `adapter`: the answering adapter answers, so the
    threshold calibrated with its own refusals, where one is known."""
    known = calibration(settings.embedder)
    calibrated = known.get("adapter_threshold", known.get("threshold")) if adapter else known.get("threshold")
    return {
        "threshold": settings.gate_threshold if settings.gate_threshold is not None else calibrated,
        "coverage_weight": settings.gate_coverage_weight if settings.gate_coverage_weight is not None else known.get("coverage_weight", DEFAULT_COVERAGE_WEIGHT),
        "min_coverage": settings.gate_min_coverage,
        "min_rerank": settings.gate_min_rerank,
    }


def decide(query: str, hits: list[Hit], *, threshold: float | None, coverage_weight: float, min_coverage: float, min_rerank: float | None = None) -> Verdict:
    if not hits:
        return Verdict(False, 0.0, "no passage matched the question")
    coverage = query_coverage(query, hits)
    dense = dense_evidence(hits) if threshold is not None else None
    if dense is None:
        evidence, needed, what = coverage, min_coverage, f"the best passages contain {coverage:.0%} of the question's key words"
    else:
        evidence, needed = dense + coverage_weight * coverage, threshold
        what = f"evidence {evidence:.2f} (similarity {dense:.2f}, key-word coverage {coverage:.0%})"
    if evidence < needed:
        return Verdict(False, evidence, f"{what} is below the gate's {needed:.2f}")
    if min_rerank is not None and "rerank" in hits[0].scores and hits[0].scores["rerank"] < min_rerank:
        return Verdict(False, hits[0].scores["rerank"], f"the reranker's best score {hits[0].scores['rerank']:.2f} is below {min_rerank:.2f}")
    return Verdict(True, evidence, "")
