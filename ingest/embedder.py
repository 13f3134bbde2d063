"""Dense passage and query vectors: the `Embedder` protocol and its real version.

Vectors are L2-normalised float32, so inner product is cosine similarity and the
FAISS index is an inner-product index. Asymmetric models are supported two ways:
instruction prefixes ("query: " / "passage: ", as e5 and bge use) and separate
question and passage encoders (as DPR has).
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from .models import DEFAULT_EMBEDDER, resolve

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors; `query` picks the question side."""
        ...


def embedder_from(settings) -> "SentenceTransformerEmbedder":
    """The embedder that `settings` (ingest.settings.Settings) name; loads on first use."""
    return SentenceTransformerEmbedder(
        settings.embedder,
        query_model=settings.query_embedder or None,
        query_prefix=settings.query_prefix,
        passage_prefix=settings.passage_prefix,
    )


class SentenceTransformerEmbedder:
    """sentence-transformers models; loads lazily on first use, once."""

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDER,
        *,
        query_model: str | None = None,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 32,
        device: str | None = None,
        show_progress: bool = False,
    ):
        self.model_id = model
        self.query_model_id = query_model
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self.device = device
        self.show_progress = show_progress
        self._passage = None
        self._query = None

    @property
    def name(self) -> str:
        """What the index manifest records: a different name means different vectors."""
        parts = [self.model_id]
        if self.query_model_id:
            parts.append(f"query={self.query_model_id}")
        if self.query_prefix or self.passage_prefix:
            parts.append(f"prefixes={self.query_prefix!r}/{self.passage_prefix!r}")
        return " ".join(parts)

    @property
    def dim(self) -> int:
        return int(self._passage_model().get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        """Word pieces the passage model reads; the rest of a longer text is ignored."""
        return int(self._passage_model().max_seq_length) - 2  # [CLS] and [SEP]

    def count_tokens(self, text: str) -> int:
        return len(self._passage_model().tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def _load(self, model_id: str, setting: str):
        from sentence_transformers import SentenceTransformer

        path = resolve(model_id, setting)
        log.info("loading embedder %s from %s", model_id, path)
        return SentenceTransformer(path, device=self.device or "cpu")

    def _passage_model(self):
        if self._passage is None:
            self._passage = self._load(self.model_id, "SOURCED_EMBEDDER")
        return self._passage

    def _query_model(self):
        if not self.query_model_id:
            return self._passage_model()
        if self._query is None:
            self._query = self._load(self.query_model_id, "SOURCED_QUERY_EMBEDDER")
        return self._query

    def embed(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._query_model() if query else self._passage_model()
        prefix = self.query_prefix if query else self.passage_prefix
        vectors = model.encode(
            [prefix + t for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.show_progress and len(texts) > self.batch_size,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
