"""The index folder: chunks, dense vectors (FAISS) and lexical statistics, on disk.

Layout of DIR:
    CURRENT                 name of the live generation ("gen-000007")
    gen-000007/             one complete, immutable generation
        manifest.json       schema, embedder, chunking, counts, sha256 of every file
        chunks.jsonl        one chunk per line, in vector order
        documents.json      one record per indexed file (content hash, name, chunks)
        dense.faiss         FAISS inner-product index (faiss.write_index, no pickle)
        lexical.npz         term-frequency matrix (documents x terms, CSR arrays)
        vocab.json          the lexical vocabulary, in column order

Writes never touch a live generation: a new one is written and fsynced beside it
and swapped in by renaming CURRENT, so a crash at any point leaves the last good
index. Loading verifies checksums and falls back to the newest intact generation.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .embedder import mismatch_remedy
from .errors import IndexCorruptError, IndexMismatchError, IngestCancelled
from .lexical import TOKENIZER_VERSION
from .types import Chunk

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FILES = ("chunks.jsonl", "documents.json", "dense.faiss", "lexical.npz", "vocab.json")
KEEP_GENERATIONS = 2
ANN_THRESHOLD = 50_000  # vectors; below it exact search is fast enough (~10 ms at 50k x 384)
HNSW_M = 32  # graph degree: recall@10 >= 0.98 against exact search with EF_SEARCH below
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


@dataclass
class Index:
    """An in-memory snapshot of one generation. Immutable by convention: writers
    build a new `Index` and `save` it; readers keep using the one they loaded."""

    embedder: str
    dim: int
    chunks: list[Chunk] = field(default_factory=list)
    documents: list[dict] = field(default_factory=list)
    vectors: np.ndarray | None = None  # (n_chunks, dim) float32, unit length
    dense: object = None  # the FAISS index read from disk (Flat, or HNSW for large collections)
    tf: object = None  # scipy CSR, n_chunks x n_terms
    vocab: dict[str, int] = field(default_factory=dict)
    chunking: dict = field(default_factory=dict)
    tuned: dict = field(default_factory=dict)  # the collection's own trained models (rag.tune)
    generation: int = 0
    folder: Path | None = None

    def __post_init__(self):
        if self.vectors is None:
            self.vectors = np.zeros((0, self.dim), dtype=np.float32)
        if self.tf is None:
            from scipy.sparse import csr_matrix

            self.tf = csr_matrix((0, 0), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def doc_ids(self) -> set[str]:
        return {d["doc_id"] for d in self.documents}

    def manifest(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "generation": self.generation,
            "embedder": self.embedder,
            "dim": self.dim,
            "tokenizer": TOKENIZER_VERSION,
            "chunking": self.chunking,
            "tuned": self.tuned,
            "counts": {"documents": len(self.documents), "chunks": len(self.chunks), "terms": len(self.vocab)},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }


# ---------------------------------------------------------------- reading


def load(folder: str | Path, embedder: str | None = None) -> Index:
    """Load the live generation of `folder` (an empty Index if there is none yet).

    Args:
        embedder: the embedder this run uses; a different one in the manifest is
            refused, because its vectors would be compared with foreign ones.

    Raises:
        IndexCorruptError: generations exist but none passes its checksums.
        IndexMismatchError: built with another embedder or schema.
    """
    folder = Path(folder)
    while True:
        listed = _generations(folder)
        try:
            return _load_newest(folder, embedder)
        except IndexCorruptError:
            # Writers prune old generations: one listed a moment ago may be gone. Only a
            # listing that stays the same while every generation fails means corruption.
            if _generations(folder) == listed:
                raise


def _load_newest(folder: Path, embedder: str | None) -> Index:
    candidates = _generations(folder)
    current = current_generation(folder)
    if current in candidates:
        candidates.remove(current)
        candidates.insert(0, current)
    errors = []
    for name in candidates:
        try:
            index = _load_generation(folder / name)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            errors.append(f"{name}: {e}")
            log.warning("index generation %s is unusable (%s); trying an older one", name, e)
            continue
        if embedder is not None and index.embedder != embedder:
            raise embedder_mismatch(folder, index.embedder, embedder)
        return index
    if errors:
        raise IndexCorruptError(f"no intact generation in {folder}: " + "; ".join(errors))
    if (folder.exists() and any(p for p in folder.iterdir() if not p.name.startswith("."))) and not candidates:
        raise IndexCorruptError(f"{folder} exists but is not a Sourced index folder (no generations in it)")
    return Index(embedder=embedder or "", dim=0, folder=folder)


def embedder_mismatch(folder: Path, built: str, current: str) -> IndexMismatchError:
    """The error for a collection built with another embedder than this run's, on any backend."""
    return IndexMismatchError(
        f"the index in {folder} was built with embedder '{built}', but this run uses "
        f"'{current}'. {mismatch_remedy(built, current)}, or rebuild: delete {folder} "
        f"and run `python -m ingest YOUR_FILES --index {folder}`"
    )


def check_tokenizer(folder: Path, manifest: dict) -> None:
    """IndexMismatchError when a collection's lexical terms were made by another tokenizer."""
    if manifest.get("tokenizer") != TOKENIZER_VERSION:
        raise IndexMismatchError(
            f"{folder} was tokenised with '{manifest.get('tokenizer')}', this Sourced uses "
            f"'{TOKENIZER_VERSION}'; rebuild it with `python -m ingest ... --index {folder}`"
        )


def read_manifest(folder: str | Path) -> dict:
    """The live generation's manifest ({} when there is none), without loading the index."""
    name = current_generation(Path(folder))
    try:
        return json.loads((Path(folder) / name / "manifest.json").read_text()) if name else {}
    except (OSError, ValueError):
        return {}


def read_documents(folder: str | Path, embedder: str | None = None) -> list[dict]:
    """The live generation's document records, without loading its vectors and lexical
    index (what a listing of the collection needs). The file is checked against its
    manifest checksum; anything amiss falls back to `load`, which knows the remedies."""
    folder = Path(folder)
    name = current_generation(folder)
    if name is None:
        return load(folder, embedder).documents
    try:
        manifest = json.loads((folder / name / "manifest.json").read_text())
        if (embedder is None or manifest["embedder"] == embedder) and manifest.get("schema") == SCHEMA_VERSION:
            path = folder / name / "documents.json"
            if sha256_file(path) == manifest["sha256"]["documents.json"]:
                return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError):
        pass
    return load(folder, embedder).documents


def current_generation(folder: Path) -> str | None:
    try:
        return (folder / "CURRENT").read_text().strip()
    except OSError:
        return None


def _generations(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted((p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith("gen-")), reverse=True)


def _load_generation(gen: Path) -> Index:
    import faiss
    from scipy.sparse import csr_matrix

    manifest = json.loads((gen / "manifest.json").read_text())
    if manifest.get("schema") != SCHEMA_VERSION:
        raise IndexMismatchError(
            f"{gen.parent} uses index schema {manifest.get('schema')}, this Sourced reads schema "
            f"{SCHEMA_VERSION}; rebuild it with `python -m ingest ... --index {gen.parent}`"
        )
    check_tokenizer(gen.parent, manifest)
    for name, digest in manifest["sha256"].items():
        if sha256_file(gen / name) != digest:
            raise ValueError(f"checksum mismatch in {name}")
    with open(gen / "chunks.jsonl", encoding="utf-8") as f:
        chunks = [Chunk.from_dict(json.loads(line)) for line in f if line.strip()]
    documents = json.loads((gen / "documents.json").read_text(encoding="utf-8"))
    dense = faiss.read_index(str(gen / "dense.faiss"))
    vectors = dense.reconstruct_n(0, dense.ntotal) if dense.ntotal else np.zeros((0, dense.d), np.float32)
    if hasattr(dense, "hnsw"):
        dense.hnsw.efSearch = HNSW_EF_SEARCH
    with np.load(gen / "lexical.npz", allow_pickle=False) as z:
        tf = csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    vocab = {t: i for i, t in enumerate(json.loads((gen / "vocab.json").read_text(encoding="utf-8")))}
    if not (len(chunks) == vectors.shape[0] == tf.shape[0]):
        raise ValueError(f"counts disagree: {len(chunks)} chunks, {vectors.shape[0]} vectors, {tf.shape[0]} rows")
    return Index(
        embedder=manifest["embedder"],
        dim=manifest["dim"],
        chunks=chunks,
        documents=documents,
        vectors=np.ascontiguousarray(vectors, dtype=np.float32),
        dense=dense,
        tf=tf,
        vocab=vocab,
        chunking=manifest.get("chunking", {}),
        tuned=manifest.get("tuned", {}),
        generation=manifest["generation"],
        folder=gen.parent,
    )


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (a document's id, a checksum)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_dense(vectors: np.ndarray, kind: str, dim: int | None = None):
    """A FAISS inner-product index over unit vectors: exact ("flat") or HNSW graph ("hnsw")."""
    import faiss

    dim = dim or vectors.shape[1]
    if kind == "flat":
        dense = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        dense = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        dense.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        dense.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        raise ValueError(f"dense index kind must be flat or hnsw; got {kind!r}")
    if len(vectors):
        dense.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return dense


def choose_kind(n_vectors: int, ann: str = "auto", threshold: int = ANN_THRESHOLD) -> str:
    """The dense index kind for `n_vectors`: `ann` when forced ("flat", "hnsw"), else
    exact search below `threshold` vectors and an HNSW graph from there on."""
    return ann if ann != "auto" else ("hnsw" if n_vectors >= threshold else "flat")


def dense_kind(dense) -> str:
    return "hnsw" if hasattr(dense, "hnsw") else "flat"


# ---------------------------------------------------------------- writing


@contextlib.contextmanager
def write_lock(folder: str | Path, create: bool = True):
    """Serialise writers of one folder (processes and threads); readers never wait.
    With `create=False` a missing folder raises IngestCancelled instead of being made."""
    folder = Path(folder)
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    with _gone_is_cancelled(folder, create):
        f = open(folder / ".lock", "a+")
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def _gone_is_cancelled(folder: Path, create: bool):
    """With `create=False` a folder deleted meanwhile (the session ended) stops the
    write as IngestCancelled; it is never made again."""
    try:
        yield
    except FileNotFoundError as e:
        if create or folder.is_dir():
            raise
        raise IngestCancelled(f"indexing stopped: {folder} is gone") from e


def save(index: Index, folder: str | Path, create: bool = True, ann: str = "auto", ann_threshold: int = ANN_THRESHOLD) -> Index:
    """Write `index` as the next generation of `folder` and make it live, atomically.

    Call under `write_lock(folder)`. Returns the index with its new generation number.
    The dense index saved is the kind searches will use (`choose_kind`), so they
    load it instead of building it. With `create=False` a folder deleted meanwhile
    raises IngestCancelled (it is never re-created).
    """
    folder = Path(folder)
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    with _gone_is_cancelled(folder, create):
        return _write_generation(index, folder, choose_kind(len(index.vectors), ann, ann_threshold))


def _write_generation(index: Index, folder: Path, kind: str) -> Index:
    import faiss

    def fill(tmp: Path) -> None:
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
            for c in index.chunks:
                f.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
        (tmp / "documents.json").write_text(json.dumps(index.documents, ensure_ascii=False, indent=1), encoding="utf-8")
        faiss.write_index(build_dense(index.vectors, kind, index.dim), str(tmp / "dense.faiss"))
        tf = index.tf.tocsr()
        np.savez(tmp / "lexical.npz", data=tf.data, indices=tf.indices, indptr=tf.indptr, shape=np.array(tf.shape))
        terms = sorted(index.vocab, key=index.vocab.__getitem__)
        (tmp / "vocab.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")

    index.generation = next_generation(folder, index.generation)
    commit_generation(folder, index.generation, fill, FILES, index.manifest())
    index.folder = folder
    return index


def next_generation(folder: Path, floor: int = 0) -> int:
    """The number the next generation of `folder` takes (above every one on disk and `floor`)."""
    return max([int(g.split("-")[1]) for g in _generations(folder)] + [floor]) + 1


def commit_generation(folder: Path, number: int, fill, files: tuple[str, ...], manifest: dict) -> None:
    """Write generation `number` of `folder` and make it live, atomically: `fill(tmp)`
    writes `files` into a temporary folder, the manifest gets their sha256, everything
    is fsynced, renamed into place and CURRENT is swapped by rename. Every backend's
    collection commits this way (a Milvus collection's record holds only its manifest
    and documents.json; ingest.milvus)."""
    name = f"gen-{number:06d}"
    tmp = folder / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    fill(tmp)
    manifest = manifest | {"generation": number, "sha256": {n: sha256_file(tmp / n) for n in files}}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    for n in (*files, "manifest.json"):
        _fsync(tmp / n)
    _fsync(tmp)

    os.rename(tmp, folder / name)
    _fsync(folder)
    current_tmp = folder / f".CURRENT.tmp-{os.getpid()}"
    current_tmp.write_text(name + "\n")
    _fsync(current_tmp)
    os.replace(current_tmp, folder / "CURRENT")
    _fsync(folder)
    _prune(folder, keep=name)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(folder: Path, keep: str) -> None:
    """Remove generations beyond the newest few and leftovers of crashed writers."""
    for g in _generations(folder)[KEEP_GENERATIONS:]:
        if g != keep:
            shutil.rmtree(folder / g, ignore_errors=True)
    for p in folder.glob(".gen-*.tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in folder.glob(".CURRENT.tmp-*"):
        p.unlink(missing_ok=True)
