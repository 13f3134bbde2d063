"""The Milvus backend: a collection's chunks, vectors and BM25 in Milvus, committed
through its index folder's record (ingest.backends says why there is one).

One row per chunk, its chunk id the primary key:

    id       VARCHAR   chunk id (primary key: an upsert of the same chunk is idempotent)
    doc_id   VARCHAR   the file's content hash
    added    INT64     the generation that wrote the row
    removed  INT64     the generation that retired it (NEVER while it is live)
    terms    VARCHAR   the chunk's terms as Sourced's own analyser makes them
                       (ingest.lexical: lower-cased \\w+ words, stop words dropped,
                       Snowball-stemmed in the chunk's language), joined by spaces
    chunk    VARCHAR   the chunk itself (JSON: text, source, page, offsets, ...)
    dense    FLOAT_VECTOR  the embedder's unit vector (inner product = cosine)
    sparse   SPARSE_FLOAT_VECTOR  Milvus's BM25 function over `terms`

Analysis: Milvus's analysers do not match Sourced's (Milvus Lite 3.2 has only a
\\w+ + lower-case + stop-word tokenizer and jieba, no stemmer; a cluster's
"english" analyser uses another tokenizer and stop list, and one analyser per
field, not per chunk language). So `terms` holds Sourced's analysis and Milvus's
tokenizer only splits it back: "standard" on Lite, "whitespace" on a cluster (its
"standard" would also split at "_", which \\w+ keeps). Queries are analysed the same
way (ingest.lexical.query_tokens). What still differs is the BM25 formula: Milvus
scores idf = log(1 + (N - df + 0.5) / (df + 0.5)) (Lucene's, never negative) where
Sourced follows rank-bm25 (no "+1", negative idf floored), and Milvus Lite keeps
its statistics per segment. docs/EVAL.md measures what that costs.

Atomic changes (a search never sees half of an ingest): every search and count is
filtered on `added <= G and removed > G`, G the live generation that the folder's
CURRENT names. A write of generation G+1 upserts its new rows with added = G+1 and
marks the retired ones removed = G+1, all invisible to searches of G, then commits
the record (ingest.index.commit_generation: fsync and rename), which is the moment
G+1 becomes what every new search sees. Rows of a write that died before its commit
(added > G, or removed marks > G) are undone by the next writer, under the folder's
write lock; rows retired before the live generation are deleted then too, so, as on
disk, the live generation and the one before it stay searchable.

Milvus Lite is one process's: its file is locked while open. A process that only
writes (the CLI, a worker) releases it after each write; one that searches keeps it.
Before a Lite file is opened, the write-ahead logs its last flush had already written
are deleted (`drop_flushed_wal`): Milvus Lite 3.2 would replay them, and a process
killed at that point of a flush would leave every row of its write there twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from collections import Counter
from functools import cached_property
from pathlib import Path

import numpy as np

from . import index as index_store
from .backends import Storage
from .errors import IndexMismatchError, IngestError
from .lexical import TOKENIZER_VERSION, chunk_tokens
from .types import Chunk

log = logging.getLogger(__name__)

NEVER = 2**62  # `removed` of a live row
RECORD_FILES = ("documents.json",)
LITE_FILE = "milvus.db"  # the Lite database inside an index folder when SOURCED_MILVUS_URI is empty
MAX_VARCHAR = 65_535  # bytes in a Milvus VARCHAR field
BATCH = 512  # rows per upsert
LITE_PAGE = 20_000  # rows per query when Milvus Lite lists more (a chunk's JSON is ~2 KB; gRPC answers stop at 256 MB)
LOCK_WAIT_S = 60.0  # how long to wait for another process's Milvus Lite file
BM25_K1, BM25_B = 1.5, 0.75  # as ingest.lexical
HNSW = {"M": index_store.HNSW_M, "efConstruction": index_store.HNSW_EF_CONSTRUCTION}


class MilvusError(IngestError):
    """Milvus could not be reached or refused an operation; the message says what to do."""


# ---------------------------------------------------------------- connections


def is_lite(uri: str) -> bool:
    return not uri.startswith(("http://", "https://", "tcp://", "unix:", "grpc://"))


def record_uri(folder: Path, storage: Storage) -> str:
    """What a new collection's record keeps as its URI: LITE_FILE (inside the folder)
    when the settings leave it empty, an absolute Lite path, or the server's URL."""
    if not storage.uri:
        return LITE_FILE
    return str(Path(storage.uri).expanduser().resolve()) if is_lite(storage.uri) else storage.uri


def live_uri(folder: Path, uri: str) -> str:
    return str(folder.resolve() / uri) if is_lite(uri) and not Path(uri).is_absolute() else uri


_clients: dict[tuple[str, str], object] = {}
_kept: set[str] = set()  # Lite files a search in this process opened: kept open after writes


def connect(uri: str, token: str = ""):
    """A MilvusClient for `uri`, one per (uri, token) in this process. A Lite file
    another process holds is waited for (LOCK_WAIT_S), then refused in words."""
    key = (uri, token)
    if key in _clients:
        return _clients[key]
    if is_lite(uri) and "grpc" not in sys.modules:
        # Milvus Lite's in-process gRPC server refuses the client's keepalive pings and
        # grpc's C core logs each refusal on stderr ("too_many_pings"); searches are unaffected
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    from pymilvus import MilvusClient

    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        if is_lite(uri):
            drop_flushed_wal(Path(uri))
        try:
            client = MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)
            break
        except Exception as e:  # pymilvus wraps Lite's DataDirLockedError as "Open local milvus failed"
            if not is_lite(uri):
                raise MilvusError(f"cannot reach Milvus at {uri} ({e}); check SOURCED_MILVUS_URI and SOURCED_MILVUS_TOKEN") from e
            if time.monotonic() > deadline:
                raise MilvusError(f"cannot open the Milvus Lite file {uri} ({e}): Milvus Lite serves one process at a time; "
                                  "stop the other process using it, or run a Milvus server and set SOURCED_MILVUS_URI=http://HOST:19530") from e
            time.sleep(0.2)
    client._sourced_uri = uri
    _clients[key] = client
    return client


def drop_flushed_wal(data_dir: Path) -> list[Path]:
    """Delete the write-ahead logs a Milvus Lite file's flushes already wrote, before it
    is opened; returns them. Milvus Lite 3.2 replays on open every WAL it finds, also
    one whose rows a flush has written (a process killed between saving a collection's
    manifest and deleting the WAL it replaces): every row of it would then be there
    twice, and stay so once flushed again. A WAL is flushed when its number is below
    the manifest's `active_wal_number` (the one the flush switched to). Done under the
    file's LOCK, and not at all while another process holds it (it has the file open)
    or where the manifest cannot be read (Lite then falls back to its previous one)."""
    try:
        import fcntl
    except ImportError:  # Windows: Lite locks with msvcrt; left as it is
        return []
    lock = data_dir / "LOCK"
    if not lock.exists():
        return []
    dropped = []
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []
        try:
            for manifest in data_dir.glob("**/collections/*/manifest.json"):
                try:
                    active = int(json.loads(manifest.read_text())["active_wal_number"])
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                for wal in sorted((manifest.parent / "wal").glob("wal_*_*.arrow")):
                    number = wal.stem.rsplit("_", 1)[-1]
                    if number.isdigit() and int(number) < active:
                        wal.unlink()
                        dropped.append(wal)
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    if dropped:
        log.warning("Milvus Lite file %s: deleted %d write-ahead log file(s) already flushed by a process that was stopped", data_dir, len(dropped))
    return dropped


_in_memory: set[tuple[str, str]] = set()  # (uri, collection) loaded for search by this process's client


def _loaded(client, uri: str, collection: str) -> None:
    """Load `collection` for search once per client (a reopened Lite file starts released)."""
    if (uri, collection) not in _in_memory:
        client.load_collection(collection)
        _in_memory.add((uri, collection))


def release(uri: str) -> None:
    """Close this process's clients of `uri` and, for Milvus Lite, its server, so that
    another process may open the file."""
    for key in [k for k in _clients if k[0] == uri]:
        _clients.pop(key).close()
    _in_memory.difference_update({k for k in _in_memory if k[0] == uri})
    _kept.discard(uri)
    if is_lite(uri):
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(uri)


def release_folder(folder: str | Path) -> None:
    """`release` the Milvus Lite file of the collection in `folder`, if it has one."""
    from .backends import recorded

    record = recorded(folder)
    if record["kind"] == "milvus":
        release(live_uri(Path(folder), record["uri"]))


def drop(folder: Path, token: str = "") -> None:
    """Drop the Milvus collection of `folder` from a server, or close its Lite file
    (which lives in the folder, deleted with it)."""
    from .backends import recorded

    record = recorded(folder)
    uri = live_uri(Path(folder), record["uri"])
    if is_lite(uri) and not Path(record["uri"]).is_absolute():
        release(uri)
        return
    client = connect(uri, token)
    if client.has_collection(record["collection"]):
        client.drop_collection(record["collection"])
    if is_lite(uri) and uri not in _kept:
        release(uri)


def migrate(folder: Path, storage: Storage) -> int:
    """Move a local collection into Milvus (`python -m ingest migrate`): its chunks,
    vectors and documents become the next generation in a Milvus collection, the same
    commit that every write makes; its tuned record comes along. Returns the chunks
    moved. Call under the write lock.

    Raises:
        IndexMismatchError: the folder is not a local collection.
    """
    from .backends import recorded

    if recorded(folder)["kind"] != "local" or index_store.current_generation(folder) is None:
        raise IndexMismatchError(f"{folder} is not a local collection (its record says {recorded(folder)}); nothing to migrate")
    index = index_store.load(folder)
    MilvusBackend(storage).rebuild(folder, index, tuned=index.tuned, ann=index_store.dense_kind(index.dense) if index.dense is not None else "auto")
    return len(index)


def collection_name(folder: Path, storage: Storage, version: int = 1) -> str:
    """A Lite file of its own holds one collection ("sourced"); a shared server names
    each folder's by a hash of its path. `version` counts re-embeddings (rag tune,
    migrate), each a new collection swapped in by the record."""
    base = "sourced" if not storage.uri else "sourced_" + hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:16]
    return base if version == 1 else f"{base}_v{version}"


def dense_index(ann: str) -> str:
    """The dense index a new Milvus collection gets: exact (FLAT) unless `ann` asks for
    HNSW. Milvus fixes it when the collection is made, so the local backend's switch
    at ANN_THRESHOLD vectors does not apply; docs/SCALE.md says what to choose."""
    return "hnsw" if ann == "hnsw" else "flat"


def _create(client, name: str, dim: int, lite: bool, kind: str) -> None:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=128)
    schema.add_field("added", DataType.INT64)
    schema.add_field("removed", DataType.INT64)
    schema.add_field("terms", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True, enable_match=True,
                     analyzer_params={"tokenizer": "standard" if lite else "whitespace"})
    schema.add_field("chunk", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"], output_field_names=["sparse"]))
    params = client.prepare_index_params()
    if kind == "hnsw":
        params.add_index("dense", index_type="HNSW", metric_type="IP", params=HNSW)
    else:
        params.add_index("dense", index_type="FLAT", metric_type="IP")
    params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
    client.create_collection(name, schema=schema, consistency_level="Strong")
    # Milvus Lite has no AllocTimestamp, which a synchronous create_index polls for (0.5 s a poll); its indexes build as rows arrive
    client.create_index(name, params, sync=not lite)
    client.load_collection(name)


# ---------------------------------------------------------------- reading


class MilvusSnapshot:
    """One generation of a Milvus-held collection: its record (documents, counts,
    languages) read from the folder, its rows searched in Milvus filtered to it."""

    def __init__(self, folder: Path, manifest: dict, documents: list[dict], client, *, uri: str):
        self.folder = folder
        self.manifest = manifest
        self.documents = documents
        self.client = client
        self.uri = uri
        self.record = manifest["backend"]
        self.collection = self.record["collection"]
        self.generation = manifest["generation"]
        self.embedder = manifest["embedder"]
        self.dim = manifest["dim"]
        self.chunking = manifest.get("chunking", {})
        self.tuned = manifest.get("tuned", {})
        self.visible = f"added <= {self.generation} and removed > {self.generation}"
        self._df: dict[str, int] = {}
        self._table: dict[str, int] | None = None

    def __len__(self) -> int:
        return self.manifest["counts"]["chunks"]

    @property
    def doc_ids(self) -> set[str]:
        return {d["doc_id"] for d in self.documents}

    @property
    def language_counts(self) -> Counter:
        """Passages per language ("" = unknown), over the live documents."""
        total: Counter = Counter()
        for counts in self.manifest.get("languages", {}).values():
            total.update(counts)
        return total

    def bm25(self, terms: list[str], k: int) -> list[tuple[Chunk, float]]:
        """The top `k` chunks for analysed query `terms` by Milvus's BM25, best first."""
        if not terms or not len(self) or k <= 0:
            return []
        res = self.client.search(self.collection, [" ".join(terms)], anns_field="sparse", limit=min(k, len(self)), filter=self.visible,
                                 output_fields=["chunk"], search_params={"metric_type": "BM25"})
        # Milvus Lite reports BM25 as a distance (-score), a cluster as the score
        return [(Chunk.from_dict(json.loads(h["entity"]["chunk"])), abs(float(h["distance"]))) for h in res[0] if h["distance"] != 0]

    def dense(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        """The top `k` chunks by inner product with `vector`, best first."""
        if not len(self) or k <= 0:
            return []
        res = self.client.search(self.collection, [np.asarray(vector, dtype=np.float32).ravel().tolist()], anns_field="dense", limit=min(k, len(self)),
                                 filter=self.visible, output_fields=["chunk"], search_params={"metric_type": "IP"})
        return [(Chunk.from_dict(json.loads(h["entity"]["chunk"])), float(h["distance"])) for h in res[0]]

    def document_frequency(self, term: str) -> int:
        """Live passages holding the analysed `term`: on a server a TEXT_MATCH count
        (its inverted index answers in milliseconds; cached per term); on Milvus Lite,
        whose TEXT_MATCH reads every row, from a table of all live rows' terms made on
        the first call (Lite is for small collections)."""
        if term in self._df:
            return self._df[term]
        if is_lite(self.uri):
            return self.term_table().get(term, 0)
        if not term.replace("_", "").isalnum():
            return 0
        res = self.client.query(self.collection, filter=f'TEXT_MATCH(terms, "{term}") and {self.visible}', output_fields=["count(*)"])
        self._df[term] = int(res[0]["count(*)"])
        return self._df[term]

    def term_table(self) -> dict[str, int]:
        """Live passages per term over every live row, made once per snapshot (one scan
        of the `terms` field): Lite's document frequencies, and the vocabulary the
        citation check's Rarity lists (rag.retrievers.MilvusBM25Retriever.term_weights)."""
        if self._table is None:
            table: dict[str, int] = {}
            for row in query_all(self.client, self.collection, self.visible, ["terms"]):
                for t in set(row["terms"].split()):
                    table[t] = table.get(t, 0) + 1
            self._table = table
        return self._table

    def rows(self, vectors: bool = False):
        """(chunks, vectors or None) of every live row, in the order of `documents`
        and then of each chunk's position in its file."""
        found = query_all(self.client, self.collection, self.visible, ["chunk", "dense"] if vectors else ["chunk"])
        order = {d["doc_id"]: i for i, d in enumerate(self.documents)}
        chunks = [Chunk.from_dict(json.loads(r["chunk"])) for r in found]
        ranked = sorted(range(len(chunks)), key=lambda i: (order.get(chunks[i].doc_id, len(order)), chunks[i].page, chunks[i].start, chunks[i].chunk_id))
        vecs = np.asarray([found[i]["dense"] for i in ranked], dtype=np.float32).reshape(-1, self.dim) if vectors else None
        return [chunks[i] for i in ranked], vecs

    @cached_property
    def chunks(self) -> list[Chunk]:
        """Every live chunk (the page view stitches pages from them; loaded on first use)."""
        return self.rows()[0]

    def to_index(self) -> index_store.Index:
        """The whole generation as an in-memory local Index (rag tune trains on it)."""
        from scipy.sparse import csr_matrix

        from .lexical import term_counts

        chunks, vectors = self.rows(vectors=True)
        vocab: dict[str, int] = {}
        tf = term_counts(chunk_tokens(chunks), vocab) if chunks else csr_matrix((0, 0), dtype=np.float32)
        return index_store.Index(embedder=self.embedder, dim=self.dim, chunks=chunks, documents=list(self.documents), vectors=vectors, tf=tf,
                                 vocab=vocab, chunking=self.chunking, tuned=self.tuned, generation=self.generation, folder=self.folder)


def read_record(folder: Path) -> tuple[dict, list[dict]] | None:
    """(manifest, documents) of the newest generation of `folder` whose record passes
    its checksums, the live one first; None when there is none."""
    names = index_store._generations(folder)
    current = index_store.current_generation(folder)
    if current in names:
        names.remove(current)
        names.insert(0, current)
    for name in names:
        gen = folder / name
        try:
            manifest = json.loads((gen / "manifest.json").read_text())
            if any(index_store.sha256_file(gen / n) != d for n, d in manifest["sha256"].items()):
                raise ValueError("checksum mismatch")
            return manifest, json.loads((gen / "documents.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError) as e:
            log.warning("collection record %s is unusable (%s); trying an older one", gen, e)
    return None


class MilvusBackend:
    kind = "milvus"

    def __init__(self, storage: Storage):
        self.storage = storage
        self.timings: dict[str, float] = {}

    def load(self, folder: Path, embedder: str | None = None, *, writing: bool = False):
        """The live generation (an empty `index.Index` for a new folder, which the first write makes a Milvus collection)."""
        folder = Path(folder)
        found = read_record(folder)
        if found is None:
            return index_store.Index(embedder=embedder or "", dim=0, folder=folder)
        manifest, documents = found
        if manifest.get("backend", {}).get("kind") != "milvus":
            raise IndexMismatchError(f"{folder} is not held by Milvus (its record says {manifest.get('backend')})")
        index_store.check_tokenizer(folder, manifest)
        if embedder is not None and manifest["embedder"] != embedder:
            raise index_store.embedder_mismatch(folder, manifest["embedder"], embedder)
        uri = live_uri(folder, manifest["backend"]["uri"])
        client = connect(uri, self.storage.token)
        _loaded(client, uri, manifest["backend"]["collection"])
        if not writing:
            _kept.add(uri)
        return MilvusSnapshot(folder, manifest, documents, client, uri=uri)

    def write(self, folder, base, docs, chunks, vectors, removed, *, embedder, chunking=None, create=True, ann="auto", ann_threshold=index_store.ANN_THRESHOLD):
        folder = Path(folder)
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        new = not isinstance(base, MilvusSnapshot)
        if new and len(base):
            raise IndexMismatchError(f"{folder} holds a local index; move it into Milvus with `python -m ingest migrate --index {folder}`")
        dim = int(vectors.shape[1]) if vectors is not None and len(chunks) else (base.dim or 0)
        record = base.record if not new else {"kind": "milvus", "uri": record_uri(folder, self.storage), "collection": collection_name(folder, self.storage),
                                              "dense_index": dense_index(ann)}
        uri = live_uri(folder, record["uri"])
        client = connect(uri, self.storage.token)
        try:
            if not client.has_collection(record["collection"]):
                if not dim:
                    return base  # nothing to hold yet
                _create(client, record["collection"], dim, is_lite(uri), record.get("dense_index", "flat"))
            g = base.generation
            number = index_store.next_generation(folder, g)
            undo_uncommitted(client, record["collection"], g)
            _upsert(client, record["collection"], chunks, vectors, number)
            retired = _retire(client, record["collection"], removed, g, number)
            documents = [d for d in base.documents if d["doc_id"] not in removed] + list(docs)
            languages = {d: c for d, c in (base.manifest.get("languages", {}) if not new else {}).items() if d not in removed}
            per_doc: dict[str, Counter] = {d["doc_id"]: Counter() for d in docs}
            for c in chunks:  # one pass: a bulk ingest of many files must not cost documents x chunks
                if c.doc_id in per_doc:
                    per_doc[c.doc_id][c.lang] += 1
            languages.update((d, dict(counts)) for d, counts in per_doc.items())
            manifest = {
                "schema": index_store.SCHEMA_VERSION,
                "embedder": embedder if chunks else (base.embedder or embedder),
                "dim": dim,
                "tokenizer": TOKENIZER_VERSION,
                "chunking": chunking if chunking is not None else base.chunking,
                "tuned": base.tuned,
                "counts": {"documents": len(documents), "chunks": len(base) - retired + len(chunks), "terms": 0},
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "backend": record,
                "languages": languages,
            }
            commit_record(folder, number, manifest, documents)
            return self.load(folder, writing=True)
        finally:
            if is_lite(uri) and uri not in _kept:
                release(uri)

    def rebuild(self, folder: Path, index: index_store.Index, tuned: dict | None = None, ann: str = "auto") -> None:
        """Make the whole of `index` (chunks, vectors, documents) the next generation in a
        new Milvus collection, and drop the one it replaces: how re-embedded vectors
        (rag tune) and a local collection (migrate) arrive. Searches keep the old
        collection until the record's commit names the new one. Call under the write lock."""
        folder = Path(folder)
        found = read_record(folder)
        old = found[0] if found and found[0].get("backend", {}).get("kind") == "milvus" else None
        version = (old["backend"].get("version", 1) + 1) if old else 1
        record = {**(old["backend"] if old else {"uri": record_uri(folder, self.storage)}), "kind": "milvus",
                  "collection": collection_name(folder, self.storage, version), "version": version, "dense_index": dense_index(ann)}
        uri = live_uri(folder, record["uri"])
        client = connect(uri, self.storage.token)
        try:
            if client.has_collection(record["collection"]):
                client.drop_collection(record["collection"])  # a rebuild that died before its commit
            _create(client, record["collection"], index.dim, is_lite(uri), record["dense_index"])
            number = index_store.next_generation(folder, index.generation)
            _upsert(client, record["collection"], index.chunks, index.vectors, number)
            languages: dict[str, Counter] = {}
            for c in index.chunks:
                languages.setdefault(c.doc_id, Counter())[c.lang] += 1
            manifest = index.manifest() | {"backend": record, "languages": {d: dict(c) for d, c in languages.items()},
                                            "counts": {"documents": len(index.documents), "chunks": len(index.chunks), "terms": 0}}
            if tuned is not None:
                manifest["tuned"] = tuned
            commit_record(folder, number, manifest, index.documents)
            if old and old["backend"]["collection"] != record["collection"] and client.has_collection(old["backend"]["collection"]):
                client.drop_collection(old["backend"]["collection"])
        finally:
            if is_lite(uri) and uri not in _kept:
                release(uri)


    def retune(self, folder: Path, base: MilvusSnapshot, tuned: dict) -> None:
        """The next generation over the same rows, its record naming the collection's
        tuned models (rag tune kept the encoder). Call under the write lock."""
        undo_uncommitted(base.client, base.collection, base.generation)
        commit_record(Path(folder), index_store.next_generation(Path(folder), base.generation), base.manifest | {"tuned": tuned}, base.documents)


def commit_record(folder: Path, number: int, manifest: dict, documents: list[dict]) -> None:
    def fill(tmp: Path) -> None:
        (tmp / "documents.json").write_text(json.dumps(documents, ensure_ascii=False, indent=1), encoding="utf-8")

    index_store.commit_generation(folder, number, fill, RECORD_FILES, manifest)


def undo_uncommitted(client, collection: str, g: int) -> None:
    """Undo what a writer that died before committing generation g+1 left (rows added
    after g, retirement marks after g), and delete the rows that neither the live
    generation g nor the one before it shows (retired before g)."""
    client.delete(collection, filter=f"added > {g}")
    marked = _ids(client, collection, f"removed > {g} and removed < {NEVER}")
    for start in range(0, len(marked), BATCH):
        client.upsert(collection, [{"id": i, "removed": NEVER} for i in marked[start : start + BATCH]], partial_update=True)
    client.delete(collection, filter=f"removed < {g}")


def _ids(client, collection: str, filter: str) -> list[str]:
    return [r["id"] for r in query_all(client, collection, filter, ["id"])]


def query_all(client, collection: str, filter: str, fields: list[str]) -> list[dict]:
    """Every row matching `filter`: on a server through a query iterator (16,384 rows a
    query); on Milvus Lite, which has no timestamps for an iterator, in one query, or for
    more than LITE_PAGE rows by their ids in pages, since one answer over gRPC's 256 MB
    limit is refused (the terms of 1M chunks are ~540 MB)."""
    if is_lite(getattr(client, "_sourced_uri", "")):
        count = int(client.query(collection, filter=filter, output_fields=["count(*)"])[0]["count(*)"])
        if count <= LITE_PAGE or fields == ["id"]:
            return list(client.query(collection, filter=filter, output_fields=fields))
        ids = [r["id"] for r in client.query(collection, filter=filter, output_fields=["id"])]
        found = []
        for start in range(0, len(ids), LITE_PAGE):
            page = ", ".join(json.dumps(i) for i in ids[start : start + LITE_PAGE])
            found += client.query(collection, filter=f"id in [{page}]", output_fields=fields)
        return found
    it = client.query_iterator(collection, batch_size=1000, filter=filter, output_fields=fields)
    found: list[dict] = []
    try:
        while batch := it.next():
            found += batch
    finally:
        it.close()
    return found


def _upsert(client, collection: str, chunks: list[Chunk], vectors: np.ndarray | None, generation: int) -> None:
    """Write `chunks` as rows added by `generation` (idempotent: the chunk id is the key)."""
    terms = chunk_tokens(chunks)
    for start in range(0, len(chunks), BATCH):
        rows = []
        for i in range(start, min(start + BATCH, len(chunks))):
            c = chunks[i]
            row = {"id": c.chunk_id, "doc_id": c.doc_id, "added": generation, "removed": NEVER, "terms": " ".join(terms[i]),
                   "chunk": json.dumps(c.to_dict(), ensure_ascii=False), "dense": vectors[i].tolist()}
            for field in ("terms", "chunk"):
                if len(row[field].encode("utf-8")) > MAX_VARCHAR:
                    raise MilvusError(f"chunk {c.chunk_id} of {c.source} is {len(row[field].encode()):,} bytes in Milvus field '{field}', "
                                      f"over its {MAX_VARCHAR:,}; lower SOURCED_CHUNK_CHARS")
            rows.append(row)
        client.upsert(collection, rows)


def _retire(client, collection: str, doc_ids: set[str], g: int, generation: int) -> int:
    """Mark the live rows of `doc_ids` removed by `generation`; returns how many."""
    if not doc_ids:
        return 0
    quoted = ", ".join(json.dumps(d) for d in sorted(doc_ids))
    ids = _ids(client, collection, f"doc_id in [{quoted}] and added <= {g} and removed > {g}")
    for start in range(0, len(ids), BATCH):
        client.upsert(collection, [{"id": i, "removed": generation} for i in ids[start : start + BATCH]], partial_update=True)
    return len(ids)
