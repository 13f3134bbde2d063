"""Files in, index generation out: load -> chunk -> embed -> lexical stats -> save."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import index as index_store
from . import language
from .backends import LOCAL, Storage, backend_for
from .backends import merge as merge
from .chunking import DEFAULT_CHUNK_CHARS, DEFAULT_CHUNK_WORDS, DEFAULT_OVERLAP_WORDS, chunk_pages, validate
from .embedder import Embedder
from .errors import IngestCancelled, LoadError
from .loaders import DEFAULT_MAX_BYTES, DEFAULT_MAX_PAGES, SUPPORTED_NAMES, SUPPORTED_SUFFIXES
from .ocr import DEFAULT_OCR, OcrOptions
from .sandbox import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, load
from .types import Chunk

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
EMBED_BATCH = 16


@dataclass
class IngestReport:
    added: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    chunks: int = 0
    total_chunks: int = 0
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "added": self.added,
            "skipped": self.skipped,
            "chunks": self.chunks,
            "index_chunks": self.total_chunks,
            "seconds": round(self.seconds, 3),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def collect_files(paths: Iterable[str | Path], *, folders: bool = True) -> tuple[list[tuple[Path, str]], list[dict]]:
    """Expand folders (recursively, supported types, no hidden files) into (path, source name).

    The source name is what citations show: the file name for a file given directly,
    the path below the folder's parent for files found in a folder. With
    `folders=False` (the web app) a folder is refused, never walked.
    """
    files, skipped = [], []
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and not folders:
            skipped.append({"path": str(p), "reason": "a folder, not a file; only uploaded files are indexed"})
        elif p.is_dir():
            found = 0
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p.parent)
                if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES and not any(s.startswith(".") for s in rel.parts):
                    files.append((f, rel.as_posix()))
                    found += 1
            if not found:
                skipped.append({"path": str(p), "reason": f"a folder with no files of a type Sourced reads ({SUPPORTED_NAMES}) in it"})
        elif p.is_file():
            files.append((p, p.name))
        else:
            skipped.append({"path": str(p), "reason": "no such file or folder"})
    return files, skipped


@dataclass(frozen=True)
class Limits:
    """What one call of `ingest` may cost; None means no limit (the CLI's default).

    max_chunks: passages the collection may hold in all; a file that would pass it
        is refused whole (like a PDF over max_pages), and the files before it stay.
    deadline: a `clock()` value; files not embedded by then are skipped, those
        embedded before are indexed.
    cancelled: asked between files and embedding batches; True stops the call with
        IngestCancelled and writes nothing (the app: the session ended).
    """

    max_chunks: int | None = None
    deadline: float | None = None
    cancelled: Callable[[], bool] | None = None
    clock: Callable[[], float] = time.monotonic

    def check(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise IngestCancelled("indexing stopped: the session ended")

    def out_of_time(self) -> bool:
        return self.deadline is not None and self.clock() > self.deadline


OUT_OF_TIME = "not indexed: the time allowed for indexing ran out before this file was embedded (SOURCED_MAX_INGEST_S)"


@dataclass
class _File:
    """A parsed and chunked file waiting to be embedded."""

    path: Path
    doc: dict
    chunks: list[Chunk]

    def added(self) -> dict:
        """Its entry in IngestReport.added."""
        return {"path": str(self.path), **{k: self.doc[k] for k in ("source", "doc_id", "pages", "chunks")}}


def ingest(
    paths: Iterable[str | Path],
    folder: str | Path,
    embedder: Embedder,
    *,
    chunk_words: int = DEFAULT_CHUNK_WORDS,
    overlap_words: int = DEFAULT_OVERLAP_WORDS,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pages: int = DEFAULT_MAX_PAGES,
    parse_timeout_s: float = DEFAULT_TIMEOUT_S,
    parse_memory_mb: int = DEFAULT_MEMORY_MB,
    ocr: OcrOptions = DEFAULT_OCR,
    names: dict[str, str] | None = None,
    progress: Progress | None = None,
    limits: Limits = Limits(),
    folders: bool = True,
    create: bool = True,
    ann: str = "auto",
    ann_threshold: int = index_store.ANN_THRESHOLD,
    storage: Storage = LOCAL,
) -> IngestReport:
    """Add files to the index in `folder` as one new generation.

    Same content already indexed is skipped; a file whose name is indexed with other
    content replaces it. Bad files are skipped with a reason; the rest still go in.
    Every file is parsed in a child process limited to `parse_timeout_s` seconds and
    `parse_memory_mb` megabytes (ingest.sandbox), so one hostile file cannot hang
    or exhaust the app.

    Args:
        max_pages: a longer PDF is skipped with a reason (not cut).
        ocr: how scanned PDF pages are read (ingest.ocr); their progress is reported
            per page, and `limits` stop a long OCR too.
        names: optional {path: source name} overrides (the app passes upload names).
        progress: called with (fraction 0..1, message) as work advances.
        limits: passages, time and cancellation (see Limits).
        folders: walk folders given in `paths`; False refuses them.
        create: create `folder` if needed; False (the app) stops with IngestCancelled
            when it is gone, so a deleted session folder is never re-created.
        ann, ann_threshold: which dense index the generation stores (index.choose_kind).
        storage: the backend a new collection goes to (ingest.backends); an existing
            one stays where its record says.

    Raises:
        IngestCancelled: `limits.cancelled` said so, or `folder` vanished with create=False.
    """
    validate(chunk_words, overlap_words)
    progress = progress or (lambda f, m: None)
    t0 = time.perf_counter()
    report = IngestReport()
    files, report.skipped = collect_files(paths, folders=folders)
    names = names or {}
    parse = dict(max_bytes=max_bytes, max_pages=max_pages, timeout_s=parse_timeout_s, memory_mb=parse_memory_mb, ocr=ocr)

    def stop() -> bool:  # asked while a file is parsed: raises IngestCancelled, True when out of time
        limits.check()
        return limits.out_of_time()
    with index_store.write_lock(folder, create=create):
        backend = backend_for(folder, storage)
        current = backend.load(Path(folder), embedder.name, writing=True)
        known = {d["doc_id"]: d["source"] for d in current.documents}
        sizes = {d["doc_id"]: d["chunks"] for d in current.documents}
        pending: list[_File] = []
        replaced: set[str] = set()
        t_parse = t_chunk = 0.0
        for i, (path, source) in enumerate(files):
            source = names.get(str(path), source)
            limits.check()
            if limits.out_of_time():
                report.skipped.append({"path": str(path), "reason": OUT_OF_TIME})
                continue
            progress(0.3 * i / max(len(files), 1), f"reading {source}")
            t = time.perf_counter()
            try:
                data_hash = index_store.sha256_file(path)
            except OSError as e:  # vanished or unreadable since the folder was listed
                report.skipped.append({"path": str(path), "reason": f"cannot read file ({e.strerror or e})"})
                continue
            if data_hash in known or data_hash in {f.doc["doc_id"] for f in pending}:
                report.skipped.append({"path": str(path), "reason": f"already indexed (same content as {known.get(data_hash, source)})"})
                continue
            freed = {d for d, s in known.items() if s == source}
            room = _room(limits.max_chunks, len(current) - sum(sizes[d] for d in replaced | freed), pending)
            try:
                pages = load(path, name=source, max_chars=None if room is None else room * chunk_chars, **parse, stop=stop,
                             progress=_ocr_progress(progress, i, len(files), source))
            except LoadError as e:
                report.skipped.append({"path": str(path), "reason": e.reason})
                continue
            finally:
                t_parse += time.perf_counter() - t
            t = time.perf_counter()
            chunks = language.tag(chunk_pages(pages, data_hash, chunk_words, overlap_words, *_token_cap(embedder), chunk_chars, room))
            t_chunk += time.perf_counter() - t
            if room is not None and len(chunks) > room:
                report.skipped.append({"path": str(path), "reason": f"not indexed: it makes more than {room:,} passages, more than the collection has room for "
                                       f"(at most {limits.max_chunks:,} in all, SOURCED_MAX_CHUNKS); split the file or remove documents"})
                continue
            replaced |= freed
            doc = {"doc_id": data_hash, "source": source, "pages": len({p.page for p in pages}), "chunks": len(chunks), "added": time.strftime("%Y-%m-%dT%H:%M:%S")}
            pending.append(_File(path, doc, chunks))
        report.timings.update(parse=t_parse, chunk=t_chunk)

        t = time.perf_counter()
        done, vectors = _embed_files(embedder, pending, progress, limits)
        report.timings["embed"] = time.perf_counter() - t
        report.skipped += [{"path": str(f.path), "reason": OUT_OF_TIME} for f in pending[len(done):]]
        report.added = [f.added() for f in done]
        replaced = {d for d in replaced if any(f.doc["source"] == known[d] for f in done)}
        if not done:
            report.total_chunks = len(current)
            report.seconds = time.perf_counter() - t0
            progress(1.0, "nothing new to index")
            return report

        new_chunks = [c for f in done for c in f.chunks]
        progress(0.95, "saving the index")
        limits.check()
        t = time.perf_counter()
        updated = backend.write(Path(folder), current, [f.doc for f in done], new_chunks, vectors, replaced, embedder=embedder.name,
                                chunking={"chunk_words": chunk_words, "overlap_words": overlap_words, "chunk_chars": chunk_chars},
                                create=create, ann=ann, ann_threshold=ann_threshold)
        report.timings["save"] = time.perf_counter() - t
        report.timings.update(backend.timings)  # the local backend splits its lexical statistics from saving
    report.chunks = len(new_chunks)
    report.total_chunks = len(updated)
    report.seconds = time.perf_counter() - t0
    progress(1.0, f"indexed {len(done)} file(s), {len(new_chunks)} chunks")
    return report


def _ocr_progress(progress: Progress, i: int, n_files: int, source: str) -> Callable[[int, int], None]:
    """The OCR of file `i`'s pages as a part of reading the files (the first 30%)."""
    return lambda done, total: progress(0.3 * (i + done / max(total, 1)) / max(n_files, 1), f"OCR of {source}: page {min(done + 1, total)} of {total}")


def _room(max_chunks: int | None, kept: int, pending: list[_File]) -> int | None:
    """Passages the collection can still take, or None without a limit."""
    return None if max_chunks is None else max(0, max_chunks - kept - sum(len(f.chunks) for f in pending))


HEADING_TOKENS = 16  # room for the heading path that indexed_text puts before a chunk


def _token_cap(embedder: Embedder) -> tuple:
    """(count, max_tokens) from an embedder that exposes its tokenizer, else (None, None)."""
    count, limit = getattr(embedder, "count_tokens", None), getattr(embedder, "max_tokens", None)
    return (count, limit - HEADING_TOKENS) if count and limit else (None, None)


EMBED_GROUP = 256  # chunks embedded together: files finish in order, so a deadline keeps whole files


def _embed_files(embedder: Embedder, files: list[_File], progress: Progress, limits: Limits) -> tuple[list[_File], np.ndarray | None]:
    """Vectors for the files' chunks, in order, and the files they cover: all of
    them, or those embedded before `limits.deadline`."""
    total = sum(len(f.chunks) for f in files)
    done: list[_File] = []
    parts: list[np.ndarray] = []
    group: list[_File] = []
    offset = 0  # chunks embedded so far
    for n, f in enumerate(files):
        group.append(f)
        chunks = [c for g in group for c in g.chunks]
        if len(chunks) < EMBED_GROUP and n + 1 < len(files):
            continue
        vectors = _embed(embedder, chunks, lambda i, size: progress(
            0.3 + 0.6 * (offset + i) / total, f"embedding chunks {offset + i + 1}-{offset + i + size} of {total}"), limits)
        if vectors is None:
            break
        done += group
        parts.append(vectors)
        offset += len(chunks)
        group = []
    return done, (np.vstack(parts) if parts else None)


def _embed(embedder: Embedder, chunks: list[Chunk], progress: Callable[[int, int], None], limits: Limits) -> np.ndarray | None:
    """Vectors in chunk order, computed shortest text first; None when the deadline
    passes first.

    Sorting by length puts similar lengths in one batch, so little of each batch is
    padding: measured +15-25% chunks/s on the 400-page manual (2 cores). Small
    batches keep progress fine-grained and cost nothing once sorted (docs/BENCH.md).
    """
    order = sorted(range(len(chunks)), key=lambda i: len(chunks[i].indexed_text))
    vectors = None
    for start in range(0, len(order), EMBED_BATCH):
        limits.check()
        if limits.out_of_time():
            return None
        ids = order[start : start + EMBED_BATCH]
        progress(start, len(ids))
        part = embedder.embed([chunks[i].indexed_text for i in ids])
        if vectors is None:
            vectors = np.zeros((len(chunks), part.shape[1]), dtype=np.float32)
        vectors[ids] = part
    return vectors


def remove(folder: str | Path, doc_ids: set[str], embedder_name: str, ann: str = "auto", ann_threshold: int = index_store.ANN_THRESHOLD,
           storage: Storage = LOCAL) -> int:
    """Remove documents (their chunks leave both indexes, on whichever backend holds
    the collection); returns chunks removed."""
    with index_store.write_lock(folder):
        backend = backend_for(folder, storage)
        current = backend.load(Path(folder), embedder_name, writing=True)
        removed = sum(d["chunks"] for d in current.documents if d["doc_id"] in doc_ids)
        if not (current.doc_ids & doc_ids):
            return 0
        backend.write(Path(folder), current, [], [], None, doc_ids, embedder=current.embedder, ann=ann, ann_threshold=ann_threshold)
        return removed
