"""Cross-encoder reranking: read query and passage together, re-order the top few.

Too slow for a whole collection (about 16 pairs/s per core at 256 tokens), right for
the top 20-100 fused candidates. When no cross-encoder can be loaded the pipeline
says so and keeps the fused order: a missing reranker must never break answering.
"""

from __future__ import annotations

import logging
from typing import Protocol

from ingest.models import ModelUnavailableError, resolve

from .types import Hit

log = logging.getLogger(__name__)


class Reranker(Protocol):
    name: str

    def score(self, query: str, texts: list[str]) -> list[float]:
        """One relevance score per text; higher is more relevant."""
        ...


class CrossEncoderReranker:
    """sentence-transformers `CrossEncoder`, loaded on construction."""

    def __init__(self, model: str, max_length: int = 256, batch_size: int = 16):
        from sentence_transformers import CrossEncoder

        self.name = model
        self.batch_size = batch_size
        self.model = CrossEncoder(resolve(model, "SOURCED_RERANKER"), max_length=max_length, device="cpu")

    def score(self, query: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        scores = self.model.predict([(query, t) for t in texts], batch_size=self.batch_size, show_progress_bar=False)
        return [float(s) for s in scores]


def load_reranker(model: str) -> tuple[Reranker | None, str]:
    """The reranker, or None with a plain-words reason (shown in CLI, log and UI)."""
    if model.lower() in ("", "none", "off"):
        return None, "reranking is turned off (SOURCED_RERANKER=none)"
    try:
        return CrossEncoderReranker(model), ""
    except ModelUnavailableError as e:
        reason = f"no reranker: {e}; results are ranked by fusion alone"
    except Exception as e:  # a broken or incompatible model folder
        reason = f"no reranker: could not load '{model}' ({type(e).__name__}: {e}); results are ranked by fusion alone"
    log.warning(reason)
    return None, reason


def rerank(reranker: Reranker, query: str, hits: list[Hit], depth: int) -> list[Hit]:
    """Re-order the first `depth` hits by cross-encoder score; the rest keep their order below."""
    head, tail = hits[:depth], hits[depth:]
    scores = reranker.score(query, [h.chunk.indexed_text for h in head])
    ranked = sorted(zip(head, scores), key=lambda p: -p[1])
    return [h.with_score(s, rerank=s) for h, s in ranked] + tail
