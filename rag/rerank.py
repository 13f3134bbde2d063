"""Cross-encoder reranking: read query and passage together, re-order the top few.

Too slow for a whole collection (about 16 pairs/s per core at 256 tokens), right for
the top 20-100 fused candidates. When no cross-encoder can be loaded the pipeline
says so and keeps the fused order: a missing reranker must never break answering.
"""

from __future__ import annotations

import logging
from typing import Protocol

from ingest.models import ModelUnavailableError, bf16_ok, pick_device, resolve
from ingest.settings import OFF

from .fusion import interpolate
from .types import Hit

log = logging.getLogger(__name__)


class Reranker(Protocol):
    name: str

    def score(self, query: str, texts: list[str]) -> list[float]:
        """One relevance score per text; higher is more relevant."""
        ...


class CrossEncoderReranker:
    """sentence-transformers `CrossEncoder`, loaded on construction."""

    def __init__(self, model: str, max_length: int = 256, batch_size: int = 16, device: str | None = None):
        path = resolve(model, "SOURCED_RERANKER")  # first: a missing model is reported without importing torch
        from sentence_transformers import CrossEncoder

        self.name = model
        self.batch_size = batch_size
        self.device = pick_device(device)
        self.bf16 = bf16_ok(self.device)
        self.model = CrossEncoder(path, max_length=max_length, device=self.device)

    def score(self, query: str, texts: list[str]) -> list[float]:
        """Raw logits: a sigmoid would squash the differences between strong candidates
        that matter when scores are mixed with fused ones (rag.fusion.interpolate).

        In bfloat16 where the hardware has it: on this machine's 2 cores 75-93 instead
        of 30 SciFact pairs per second, scores equal to within 0.01."""
        import torch

        if not texts:
            return []
        with torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=self.bf16):
            scores = self.model.predict([(query, t) for t in texts], batch_size=self.batch_size, show_progress_bar=False, activation_fn=torch.nn.Identity())
        return [float(s) for s in scores]


def load_reranker(model: str) -> tuple[Reranker | None, str]:
    """The reranker, or None with a plain-words reason (shown in CLI, log and UI)."""
    if model.lower() in OFF:
        return None, "reranking is turned off (SOURCED_RERANKER=none)"
    try:
        return CrossEncoderReranker(model), ""
    except ModelUnavailableError as e:
        reason = f"no reranker: {e}; results are ranked by fusion alone"
    except Exception as e:  # a broken or incompatible model folder
        reason = f"no reranker: could not load '{model}' ({type(e).__name__}: {e}); results are ranked by fusion alone"
    log.warning(reason)
    return None, reason


def rerank(reranker: Reranker, query: str, hits: list[Hit], depth: int, weight: float = 1.0) -> list[Hit]:
    """Re-order the first `depth` hits by cross-encoder score, mixed with their fused
    score when `weight` < 1 (rag.fusion.interpolate); the rest keep their order below.
    Each reordered hit keeps the cross-encoder's own score as `rerank` evidence."""
    head, tail = hits[:depth], hits[depth:]
    scores = reranker.score(query, [h.chunk.indexed_text for h in head])
    order, mixed = mix_order([h.score for h in head], scores, weight)
    return [head[i].with_score(mixed[i], rerank=scores[i]) for i in order] + tail


def mix_order(fused: list[float], scores: list[float], weight: float) -> tuple[list[int], list[float]]:
    """The candidates' order by cross-encoder score mixed with their fused score
    (rag.fusion.interpolate; weight 1: the cross-encoder alone, 0: fusion alone), and
    the mixed scores. Stable: ties keep the fused order."""
    mixed = list(scores) if weight >= 1.0 else list(interpolate(fused, scores, weight))
    return sorted(range(len(mixed)), key=lambda i: -mixed[i]), mixed
