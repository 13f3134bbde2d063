"""The verbatim evidence that best answers a question, when no generated sentence is
supported: the top passage's sentence holding most of the question's content (pure).

The question's terms count with their tf-idf mass (idf², rag.citations), so a
sentence that shares the question's rare words ("Denver Broncos") beats one that
shares its common ones ("team"). Used as the answer's fallback (shown as a quote,
never as the model's words) and, alone, as the extractive baseline of rag.eval.
"""

from __future__ import annotations

from collections.abc import Mapping

from ingest.chunking import sentence_spans
from ingest.lexical import tokenize

from .types import Citation, Hit


def best_sentence(question: str, text: str, weights: Mapping[str, float] | None = None) -> tuple[int, int]:
    """(start, end) of the sentence of `text` holding most of the question's mass;
    the first such sentence on ties, the whole text when it has no sentence break."""
    spans = sentence_spans(text) or [(0, len(text))]
    asked = set(tokenize(question))
    return max(spans, key=lambda span: mass(asked, text[span[0] : span[1]], weights))  # max keeps the first of equal ones


def mass(asked: set[str], sentence: str, weights: Mapping[str, float] | None = None) -> float:
    """The question's terms (`asked`, ingest.lexical tokens) that `sentence` holds, by
    their tf-idf mass (idf²; 1 for a term without a weight)."""
    return sum((weights[t] if weights and t in weights else 1.0) ** 2 for t in asked & set(tokenize(sentence)))


def quote(question: str, hits: list[Hit], weights: Mapping[str, float] | None = None) -> Citation | None:
    """The top passage's best sentence as citation [1]; None without passages."""
    if not hits:
        return None
    chunk = hits[0].chunk
    s, e = best_sentence(question, chunk.text, weights)
    return Citation(1, chunk.source, chunk.page, chunk.text[s:e], chunk.chunk_id, chunk.ocr)
