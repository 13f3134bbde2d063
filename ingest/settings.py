"""All of Sourced's settings in one frozen dataclass, read once at the edge.

Each field can be set by an environment variable `SOURCED_<FIELD>` (upper case) or
by a command-line flag; library functions take explicit arguments instead. An
unknown `SOURCED_*` variable is an error, so a typo never silently falls back to a
default. It serves the whole product and lives in `ingest`, the bottom floor,
because `ingest` must not import `rag` and both need it. Defaults come from the
modules that own them; what a setting means for answering (the gate's arguments, a
collection's tuned reranker) is decided in `rag` (rag.gate.options,
rag.pipeline.collection_settings).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path

from .chunking import DEFAULT_CHUNK_CHARS, DEFAULT_CHUNK_WORDS, DEFAULT_OVERLAP_WORDS, validate
from .embedder import AUTO, DEFAULT_RUNTIME, RUNTIMES, embedder_from, runtime_for, runtime_of
from .backends import BACKENDS, Storage
from .index import ANN_THRESHOLD
from .loaders import DEFAULT_MAX_BYTES, DEFAULT_MAX_PAGES
from .models import DEFAULT_CACHE, DEFAULT_EMBEDDER, DEFAULT_LLM, DEFAULT_RERANKER
from .ocr import DEFAULT_LANGS as DEFAULT_OCR_LANGS
from .ocr import DEFAULT_MAX_PAGES as DEFAULT_OCR_MAX_PAGES
from .ocr import OcrOptions
from .sandbox import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S

PREFIX = "SOURCED_"
# The choices, written once: validation here, argparse, the app and the pipeline read them.
MODES = ("bm25", "dense", "hybrid", "rerank")
FUSIONS = ("adaptive", "rrf", "minmax", "zscore")
ANN_KINDS = ("auto", "flat", "hnsw")
LLM_STYLES = ("auto", "chat", "completion")
OFF = ("", "none", "off")  # a reranker setting that turns reranking off
PUBLIC = ("auto", "1", "0")  # the app's mode: auto = public on a Hugging Face Space, else a local library


@dataclass(frozen=True)
class Settings:
    # models: a local path, an installed package's id, or a Hugging Face id
    embedder: str = DEFAULT_EMBEDDER
    query_embedder: str = ""  # a separate question encoder (DPR style); empty = same model
    query_prefix: str = ""  # e.g. "query: " for e5 models
    passage_prefix: str = ""  # e.g. "passage: "
    # auto | torch | onnx | onnx-int8: how the embedder runs (ingest.embedder_onnx exports it once under `cache`);
    # auto = onnx-int8 for the bundled MiniLM and torch for other models, and an existing index's own runtime
    # (for_index); a runtime other than torch is part of the embedder's name, so switching it means re-indexing
    embedder_runtime: str = AUTO
    embedder_languages: str = "auto"  # languages the embedder knows: auto (ingest.language's table) | all | codes, e.g. "en,de"
    reranker: str = DEFAULT_RERANKER  # "none" turns reranking off
    llm: str = DEFAULT_LLM  # a .gguf path, "REPO_ID/FILE.gguf" on the hub, or the bundled model
    llm_style: str = "auto"  # auto | chat | completion
    # a GGUF LoRA applied to the LLM: auto = the answering adapter in assets/ (rag.tune.adapter trained it)
    # with the bundled model, none with any other; "none" = off; or a .gguf path
    llm_adapter: str = "auto"
    # the adapter refuses when its refusal's probability reaches this (rag.verbatim; None: its calibrated REFUSE_AT)
    refuse_at: float | None = None
    # ... and answers only when the best evidence sentence's probability reaches this (None: its calibrated ANSWER_AT)
    answer_at: float | None = None
    # ingestion
    chunk_words: int = DEFAULT_CHUNK_WORDS
    overlap_words: int = DEFAULT_OVERLAP_WORDS
    chunk_chars: int = DEFAULT_CHUNK_CHARS  # a chunk never holds more characters, whatever the text
    max_file_mb: float = DEFAULT_MAX_BYTES / 2**20
    max_pages: int = DEFAULT_MAX_PAGES  # a longer PDF is refused, not cut (see ingest.loaders)
    parse_timeout_s: float = DEFAULT_TIMEOUT_S  # wall-clock limit for parsing one file (ingest.sandbox)
    parse_memory_mb: int = DEFAULT_MEMORY_MB  # address-space limit of the parser's child process
    ocr: str = "auto"  # scanned PDF pages: auto | rapidocr | tesseract | off (ingest.ocr; docs/BENCH.md compares them)
    ocr_langs: str = DEFAULT_OCR_LANGS  # Tesseract language codes joined by "+", e.g. eng+deu
    ocr_max_pages: int = DEFAULT_OCR_MAX_PAGES  # a PDF with more pages to OCR is refused, not cut; 0 = no OCR
    # the web app's limits, so that one visitor cannot occupy a public Space (the CLI
    # applies none of them); docs/SECURITY.md
    max_chunks: int = 5000  # passages one collection may hold (the 400-page test manual makes 650)
    max_ingest_s: float = 600.0  # seconds of indexing one collection may use in all
    max_sessions: int = 50  # live sessions per process; the idlest is deleted to make room
    max_sessions_mb: float = 4096.0  # their total size on disk, uploads included
    private_dir: str = ""  # where visitors' files live; empty = <temp folder>/sourced-private-<uid>
    # the web app's mode: a local library that persists (one person's machine), or
    # public per-visitor collections deleted when the session ends (a Space)
    public: str = "auto"  # auto | 1 | 0; auto = public when running on a Hugging Face Space
    library: str = ""  # the local library's folder; empty = the user's data folder (ingest.library)
    log: str = ""  # a file that gets one line of per-stage timings per answer; empty = none
    # retrieval
    mode: str = "rerank"  # bm25 | dense | hybrid | rerank
    top_k: int = 5  # passages given to the model and shown as sources
    depth: int = 100  # candidates each retriever contributes to fusion
    fusion: str = "adaptive"  # adaptive | rrf | minmax | zscore: adaptive (z-score, weights per query) is the one that never loses to its better half (docs/EVAL.md)
    rrf_k: int = 60
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    ann: str = "auto"  # auto | flat | hnsw: exact search below ann_threshold vectors (on Milvus: the dense index a new collection gets, FLAT unless hnsw)
    ann_threshold: int = ANN_THRESHOLD
    rerank_depth: int = 30  # fused candidates the cross-encoder reads
    rerank_weight: float = 1.0  # the cross-encoder's share against the fused score (1: it alone; rag.tune calibrates its own)
    # generation
    n_ctx: int = 4096
    max_tokens: int = 256
    source_tokens: int | None = None  # the passages' share of the prompt; empty = the prompt's own (rag.generate.SOURCE_TOKENS)
    threads: int = 0  # 0 = all cores
    temperature: float = 0.0
    deadline_s: float = 60.0  # wall-clock limit for one answer
    max_question_chars: int = 2000
    # evidence gate (rag/gate.py), calibrated on data by bench/calibrate_gate.py (docs/GATE.md)
    # dense cosine + weight x key-word coverage must reach the threshold; empty = the values
    # calibrated for the embedder (rag.gate.CALIBRATED), key-word coverage alone without them
    gate_threshold: float | None = None
    gate_coverage_weight: float | None = None
    gate_min_coverage: float = 0.55  # BM25-only search: share of key words a passage must hold
    gate_min_rerank: float | None = None  # set after calibrating a reranker's scale
    # storage (ingest.backends): where a NEW collection is kept; an existing one stays where its record says
    backend: str = "local"  # local | milvus
    milvus_uri: str = ""  # a Milvus Lite file path, or http(s)://host:19530; empty = a Lite file inside each index folder
    milvus_token: str = ""  # a Milvus server's "user:password" or API key (never written to disk)
    # where models and caches go
    cache: str = str(DEFAULT_CACHE)

    def __post_init__(self):
        validate(self.chunk_words, self.overlap_words)
        self.ocr_options  # ValueError naming a bad ocr, ocr_langs or ocr_max_pages
        for name, choices in (("mode", MODES), ("embedder_runtime", (AUTO, *RUNTIMES)), ("fusion", FUSIONS), ("ann", ANN_KINDS), ("llm_style", LLM_STYLES), ("public", PUBLIC), ("backend", BACKENDS)):
            check_choice(name, getattr(self, name), choices)
        if not 0.0 <= self.rerank_weight <= 1.0:
            raise ValueError(f"rerank_weight must be between 0 and 1; got rerank_weight={self.rerank_weight}")
        for name in ("top_k", "depth", "rrf_k", "n_ctx", "max_tokens", "max_pages", "parse_timeout_s", "parse_memory_mb", "chunk_chars",
                     "max_chunks", "max_ingest_s", "max_sessions", "max_sessions_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {name}={getattr(self, name)}")

    @property
    def ocr_options(self) -> OcrOptions:
        return OcrOptions(self.ocr, self.ocr_langs, self.ocr_max_pages)

    def storage(self) -> Storage:
        """The backend these settings choose for a new collection (ingest.backends)."""
        return Storage(self.backend, self.milvus_uri, self.milvus_token)

    @property
    def reranker_enabled(self) -> bool:
        return self.reranker.lower() not in OFF

    def is_public(self, environ: dict[str, str] | None = None) -> bool:
        """Whether the app runs in public mode: asked for, or on a Hugging Face Space
        (Spaces set SPACE_ID in every Space's environment)."""
        if self.public != "auto":
            return self.public == "1"
        return "SPACE_ID" in (os.environ if environ is None else environ)

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Settings":
        """Settings from `SOURCED_*` variables, then explicit overrides (CLI flags).

        Overrides whose value is None are ignored, so argparse defaults can pass through.

        Raises:
            ValueError: an unknown SOURCED_ variable, or a value of the wrong type.
        """
        environ = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        values = {}
        for key, raw in environ.items():
            if not key.startswith(PREFIX):
                continue
            name = key[len(PREFIX) :].lower()
            if name not in known:
                raise ValueError(f"unknown setting {key}; known settings: " + ", ".join(PREFIX + n.upper() for n in known))
            values[name] = _convert(key, raw, known[name].type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def ingest_options(self) -> dict:
        """The keyword arguments of `ingest.pipeline.ingest` that settings decide."""
        return {
            "chunk_words": self.chunk_words,
            "overlap_words": self.overlap_words,
            "chunk_chars": self.chunk_chars,
            "max_bytes": self.max_bytes,
            "max_pages": self.max_pages,
            "parse_timeout_s": self.parse_timeout_s,
            "parse_memory_mb": self.parse_memory_mb,
            "ocr": self.ocr_options,
            "ann": self.ann,
            "ann_threshold": self.ann_threshold,
            "storage": self.storage(),
        }

    def for_index(self, folder: str | Path) -> "Settings":
        """These settings as an existing index needs them wherever the settings leave the
        choice open: new files must be embedded as the index was. That is the encoder it
        was re-embedded with (its manifest's `tuned` record) when the settings name the
        model it was tuned from, and with `embedder_runtime` auto the runtime its vectors
        were made with (an index built before int8 became the default stays torch).
        rag.pipeline.collection_settings adds the collection's tuned reranker.

        Raises:
            ValueError: the tuned encoder the index was built with is gone.
        """
        from .index import read_manifest

        manifest = read_manifest(folder)
        tuned = manifest.get("tuned") or {}
        model = embedder_from(self.replace(embedder_runtime=DEFAULT_RUNTIME)).name  # these settings' model, whatever its runtime
        if tuned.get("embedder") and runtime_of(tuned.get("from", ""))[0] == model:
            if not Path(tuned["embedder"]).exists():
                raise ValueError(
                    f"{folder} was re-embedded with a tuned encoder that is gone ({tuned['embedder']}); run "
                    f"`python -m rag tune --index {folder}` again, or rebuild the index with `python -m ingest`"
                )
            return self.replace(embedder=tuned["embedder"], embedder_runtime=DEFAULT_RUNTIME)  # rag.tune re-embeds with torch
        if self.embedder_runtime == AUTO and manifest.get("embedder"):
            built, runtime = runtime_of(manifest["embedder"])
            if built == model and runtime != runtime_for(AUTO, self.embedder, self.query_embedder):
                return self.replace(embedder_runtime=runtime)
        return self

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """ValueError naming the value and the choices, when `value` is not one of them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {name}={value!r}")


def _convert(key: str, raw: str, type_name) -> object:
    kind = type_name if isinstance(type_name, str) else type_name.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "int | None":
            return None if raw.strip().lower() in ("", "none") else int(raw)
        if kind == "float | None":
            return None if raw.strip().lower() in ("", "none") else float(raw)
    except ValueError:
        raise ValueError(f"{key} must be a number; got {key}={raw!r}") from None
    return raw
