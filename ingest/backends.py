"""Where a collection's chunks, vectors and lexical index live: one `Backend`
Protocol, two implementations.

- `LocalBackend` (the default): everything in the index folder's generations
  (ingest.index: chunks.jsonl, FAISS, the BM25 term-frequency matrix).
- `MilvusBackend` (ingest.milvus): chunks, dense vectors and Milvus's own BM25 in a
  Milvus collection, embedded Milvus Lite (a local file) or a cluster (a URI).

Either way the index folder is what `--index DIR` names and what commits a change:
a Milvus collection keeps a small record there, generations holding only
manifest.json (its backend, URI and collection name) and documents.json, swapped in
by the same rename of CURRENT. So a collection records which backend holds it, the
record decides where an existing collection is opened (settings only choose for a
new one), and the folder's write lock serialises writers on both backends.

A backend answers two calls: `load(folder, embedder)`, a snapshot of the live
generation (`ingest.index.Index` or `ingest.milvus.MilvusSnapshot`: both have
`documents`, `generation`, `embedder`, `dim`, `chunking`, `tuned`, `chunks` and a
length), and `write(...)`, one change (documents added, documents removed) made live
as the next generation. rag.retrievers turns a snapshot into retrievers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from . import index as index_store
from .types import Chunk

BACKENDS = ("local", "milvus")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Storage:
    """The backend settings choose for a new collection (Settings.storage()):
    `kind` local or milvus; `uri` a Milvus Lite file path or http(s)://host:19530,
    empty = a Lite file inside each index folder (DIR/milvus.db); `token` a cluster's
    credentials ("user:password" or an API key), never written to disk."""

    kind: str = "local"
    uri: str = ""
    token: str = ""

    def __post_init__(self):
        if self.kind not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got backend={self.kind!r}")


LOCAL = Storage()


class Backend(Protocol):
    kind: str
    timings: dict[str, float]  # seconds per step of the last write ("save", and "lexical" where it is separate)

    def load(self, folder: Path, embedder: str | None = None, *, writing: bool = False):
        """The live generation's snapshot (an empty one for a new folder)."""
        ...

    def write(self, folder: Path, base, docs: list[dict], chunks: list[Chunk], vectors: np.ndarray | None, removed: set[str], *,
              embedder: str, chunking: dict | None = None, create: bool = True, ann: str = "auto", ann_threshold: int = index_store.ANN_THRESHOLD):
        """Make `base` minus the `removed` documents plus `docs` (their `chunks`, in
        order, with `vectors`) the next generation of `folder`, atomically. Call under
        `index_store.write_lock(folder)`, with `base` loaded under it."""
        ...


class LocalBackend:
    """Generations on disk (ingest.index): unchanged from before backends existed."""

    kind = "local"

    def load(self, folder: Path, embedder: str | None = None, *, writing: bool = False) -> index_store.Index:
        return index_store.load(folder, embedder)

    def __init__(self):
        self.timings: dict[str, float] = {}

    def write(self, folder, base, docs, chunks, vectors, removed, *, embedder, chunking=None, create=True, ann="auto", ann_threshold=index_store.ANN_THRESHOLD):
        t = time.perf_counter()
        updated = merge(base, docs, chunks, vectors, embedder, removed)
        if chunking is not None:
            updated.chunking = chunking
        self.timings["lexical"] = time.perf_counter() - t
        t = time.perf_counter()
        saved = index_store.save(updated, folder, create=create, ann=ann, ann_threshold=ann_threshold)
        self.timings["save"] = time.perf_counter() - t
        return saved


def merge(current: index_store.Index, new_docs: list[dict], new_chunks: list[Chunk], vectors: np.ndarray | None, embedder: str, replaced: set[str] = frozenset()) -> index_store.Index:
    """A new Index: `current` minus `replaced` documents, plus the new ones."""
    from scipy.sparse import csr_matrix, vstack

    from .lexical import chunk_tokens, term_counts

    keep = [i for i, c in enumerate(current.chunks) if c.doc_id not in replaced]
    vocab = dict(current.vocab)
    dim = int(vectors.shape[1]) if vectors is not None and len(new_chunks) else current.dim
    new_tf = term_counts(chunk_tokens(new_chunks), vocab)
    old_tf = current.tf[keep] if len(current.chunks) else csr_matrix((0, 0), dtype=np.float32)
    old_tf = csr_matrix((old_tf.data, old_tf.indices, old_tf.indptr), shape=(len(keep), len(vocab)))
    old_vectors = current.vectors[keep] if len(current.chunks) else np.zeros((0, dim), np.float32)
    new_vectors = vectors if vectors is not None and len(new_chunks) else np.zeros((0, dim), np.float32)
    return index_store.Index(
        embedder=embedder if new_chunks else (current.embedder or embedder),
        dim=dim,
        chunks=[current.chunks[i] for i in keep] + list(new_chunks),
        documents=[d for d in current.documents if d["doc_id"] not in replaced] + list(new_docs),
        vectors=np.vstack([old_vectors, new_vectors]).astype(np.float32),
        tf=vstack([old_tf, new_tf]).tocsr(),
        vocab=vocab,
        chunking=current.chunking,
        tuned=current.tuned,
        generation=current.generation,
    )


def recorded(folder: str | Path) -> dict:
    """The backend record of a collection's live generation ({"kind": "local"} for a
    local one, or a folder with no generation yet)."""
    return index_store.read_manifest(folder).get("backend") or {"kind": "local"}


def backend_for(folder: str | Path, storage: Storage = LOCAL) -> Backend:
    """The backend holding `folder`: the one its record names; for a new folder, `storage`'s."""
    kind = recorded(folder)["kind"] if index_store.current_generation(Path(folder)) else storage.kind
    if kind == "local":
        return LocalBackend()
    if kind == "milvus":
        from .milvus import MilvusBackend

        return MilvusBackend(storage)
    raise ValueError(f"{folder} is held by an unknown backend {kind!r}; this Sourced knows {', '.join(BACKENDS)}")


def load(folder: str | Path, embedder: str | None = None, storage: Storage = LOCAL):
    """The live generation of `folder` through whichever backend holds it."""
    return backend_for(folder, storage).load(Path(folder), embedder)


def discard(folder: str | Path, token: str = "") -> None:
    """Delete a collection: a Milvus one's rows too (its collection dropped from a
    server, its Milvus Lite file closed first), then the folder. What a session's end
    or a library's delete calls, so no visitor's passages outlive their folder."""
    import shutil

    folder = Path(folder)
    try:
        if folder.is_dir() and recorded(folder)["kind"] == "milvus":
            from .milvus import drop

            drop(folder, token)
    except Exception as e:  # the folder goes anyway; say what was left behind
        log.warning("could not drop the Milvus collection of %s (%s); drop it by hand", folder, e)
    shutil.rmtree(folder, ignore_errors=True)
