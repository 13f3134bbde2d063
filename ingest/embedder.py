"""Dense passage and query vectors: the `Embedder` protocol and its real version.

Vectors are L2-normalised float32, so inner product is cosine similarity and the
FAISS index is an inner-product index. Asymmetric models are supported two ways:
instruction prefixes ("query: " / "passage: ", as e5 and bge use) and separate
question and passage encoders (as DPR has).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from .models import DEFAULT_CACHE, DEFAULT_EMBEDDER, resolve

log = logging.getLogger(__name__)

# How the model runs (Settings.embedder_runtime): PyTorch, or ONNX Runtime on a local
# export in fp32 or int8 (ingest.embedder_onnx; docs/BENCH.md and docs/EVAL.md measure
# them). Every runtime but torch is part of the embedder's name, so an index refuses
# vectors from another runtime: int8 vectors differ from fp32 ones (cosine ~0.995).
RUNTIMES = ("torch", "onnx", "onnx-int8")
DEFAULT_RUNTIME = "torch"  # the runtime whose vectors' name carries no tag (indexes from before runtimes existed)
RUNTIME_TAG = " runtime="
# The settings' default, "auto": int8 for the bundled MiniLM, whose cost was measured
# (2.5-3x the chunks/s for at most 0.0034 nDCG@10, docs/EVAL.md), torch for any other
# model (not measured); an existing index opens with the runtime it was built with
# (Settings.for_index).
AUTO = "auto"
BUNDLED_RUNTIME = "onnx-int8"


def runtime_for(runtime: str, model: str, query_model: str | None = None) -> str:
    """The runtime `runtime` (a setting: auto or one of RUNTIMES) means for `model`."""
    if runtime != AUTO:
        return runtime
    return BUNDLED_RUNTIME if model == DEFAULT_EMBEDDER and not query_model else DEFAULT_RUNTIME


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
        runtime=settings.embedder_runtime,
        cache=settings.cache,
    )


def runtime_of(name: str) -> tuple[str, str]:
    """(the rest of the name, the runtime) of an embedder name (`SentenceTransformerEmbedder.name`)."""
    head, tag, runtime = name.rpartition(RUNTIME_TAG)
    return (head, runtime) if tag and runtime in RUNTIMES else (name, DEFAULT_RUNTIME)


def mismatch_remedy(built: str, current: str) -> str:
    """What to set to open an index built by embedder `built` from a run that uses
    `current` (IndexMismatchError's advice, before its "or rebuild")."""
    (model, runtime), (_, now) = runtime_of(built), runtime_of(current)
    if runtime == now:
        return f"Either set SOURCED_EMBEDDER='{model}'"
    same_model = model == runtime_of(current)[0]
    why = f"It was embedded with the {runtime} runtime and this run uses {now}; vectors from different runtimes must not be mixed. " if same_model else ""
    return why + "Either set " + ("" if same_model else f"SOURCED_EMBEDDER='{model}' and ") + f"SOURCED_EMBEDDER_RUNTIME={runtime}"


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
        runtime: str = DEFAULT_RUNTIME,
        cache: str | Path = DEFAULT_CACHE,
    ):
        if runtime not in (AUTO, *RUNTIMES):
            raise ValueError(f"embedder_runtime must be one of {', '.join((AUTO, *RUNTIMES))}; got embedder_runtime={runtime!r}")
        self.model_id = model
        self.runtime = runtime_for(runtime, model, query_model)
        self.cache = cache
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
        return " ".join(parts) + ("" if self.runtime == DEFAULT_RUNTIME else RUNTIME_TAG + self.runtime)

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
        path = resolve(model_id, setting, self.cache)
        log.info("loading embedder %s from %s (%s)", model_id, path, self.runtime)
        if self.runtime == DEFAULT_RUNTIME:
            from sentence_transformers import SentenceTransformer

            return SentenceTransformer(path, device=self.device or "cpu")
        from .embedder_onnx import OnnxSentenceEncoder, ensure_export

        return OnnxSentenceEncoder(ensure_export(path, self.cache), quantized=self.runtime == "onnx-int8")

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
