"""The evidence gate: decide from retrieval evidence whether the documents can answer.

A small model asked a question its sources do not cover invents an answer; the
gate stops that before generation. Evidence here is lexical: the share of the
query's content words that the best passages contain (dense similarity always
returns something, so on its own it cannot say "nothing relevant").
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.lexical import tokenize

from .types import Hit

MIN_QUERY_COVERAGE = 0.34  # at least a third of the question's content words must appear


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


def dense_evidence(hits: list[Hit]) -> float:
    """Best cosine similarity among the passages the dense retriever contributed."""
    return max((h.scores.get("dense_score", 0.0) for h in hits), default=0.0)


def decide(query: str, hits: list[Hit], min_coverage: float = MIN_QUERY_COVERAGE) -> Verdict:
    if not hits:
        return Verdict(False, 0.0, "no passage matched the question")
    coverage = query_coverage(query, hits)
    if coverage < min_coverage:
        return Verdict(False, coverage, f"the best passages contain only {coverage:.0%} of the question's key words")
    return Verdict(True, coverage, "")
