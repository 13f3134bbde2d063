"""The Milvus backend on Milvus Lite: what it stores, that a search never sees half of
a write, that a dead writer's rows are undone, and that it ranks as the local backend
does (the tests shared with the local backend take the `storage` fixture elsewhere)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ingest import backends
from ingest.backends import Storage
from ingest.lexical import tokenize
from ingest.milvus import MilvusSnapshot, _retire, _upsert, query_all, release_folder
from ingest.pipeline import ingest
from ingest.settings import Settings
from rag.pipeline import search
from rag.retrievers import retrievers_for

from ..fakes import HashEmbedder

MILVUS = Storage("milvus")
QUERIES = ["How many days of annual leave?", "warranty of the pump", "core hours at Harbor Labs", "descale the boiler with citric acid", "parental leave weeks"]


def _notes(tmp_path, *texts):
    files = []
    for i, text in enumerate(texts):
        f = tmp_path / f"note-{i}.md"
        f.write_text(text, encoding="utf-8")
        files.append(f)
    return files


def test_the_record_names_the_backend_and_the_rows_hold_sourced_analysis(tmp_path, docs, hash_embedder):
    folder = tmp_path / "idx"
    ingest([docs["md"]], folder, hash_embedder, storage=MILVUS)
    record = backends.recorded(folder)
    assert record["kind"] == "milvus" and record["uri"] == "milvus.db" and record["collection"] == "sourced"
    assert sorted(p.name for p in (folder / (folder / "CURRENT").read_text().strip()).iterdir()) == ["documents.json", "manifest.json"]
    snap = backends.load(folder, hash_embedder.name)
    rows = query_all(snap.client, snap.collection, "added >= 0", ["terms", "chunk"])
    assert len(rows) == len(snap) > 0
    for row in rows:
        chunk = json.loads(row["chunk"])
        assert row["terms"].split() == tokenize(chunk["section"] + "\n" + chunk["text"] if chunk["section"] else chunk["text"], chunk["lang"])


def test_an_existing_collection_stays_on_the_backend_its_record_names(tmp_path, docs, hash_embedder):
    local, milvus = tmp_path / "local", tmp_path / "milvus"
    ingest([docs["md"]], local, hash_embedder)
    ingest([docs["md"]], milvus, hash_embedder, storage=MILVUS)
    ingest([docs["pdf"]], local, hash_embedder, storage=MILVUS)  # settings choose only for a new folder
    ingest([docs["pdf"]], milvus, hash_embedder)
    assert backends.recorded(local) == {"kind": "local"} and not (local / "milvus.db").exists()
    assert isinstance(backends.load(milvus, hash_embedder.name), MilvusSnapshot)
    assert {d["source"] for d in backends.load(milvus, hash_embedder.name).documents} == {"kestrel-guide.md", "handbook.pdf"}


def test_a_search_never_sees_an_uncommitted_write_and_the_next_writer_undoes_it(tmp_path, hash_embedder):
    folder = tmp_path / "idx"
    a, b, c = _notes(tmp_path, "# A\nThe alder grove floods in April.", "# B\nThe birch grove burns in May.", "# C\nThe cedar grove sleeps in June.")
    ingest([a], folder, hash_embedder, storage=MILVUS)
    live = backends.load(folder, hash_embedder.name)
    doc_a = live.documents[0]["doc_id"]
    # what a writer of generation 2 had done when it was killed before committing:
    # B's rows upserted, A's rows marked retired
    from ingest.chunking import chunk_pages
    from ingest.types import Page

    chunks = chunk_pages([Page("note-1.md", 1, b.read_text())], "b" * 64, 30, 5)
    _upsert(live.client, live.collection, chunks, hash_embedder.embed([ch.indexed_text for ch in chunks]), live.generation + 1)
    _retire(live.client, live.collection, {doc_a}, live.generation, live.generation + 1)
    retrievers = retrievers_for(backends.load(folder, hash_embedder.name), hash_embedder, Settings())
    for mode in ("bm25", "dense", "hybrid"):
        hits, _ = search(retrievers, "grove", 10, mode, Settings())
        assert {h.chunk.source for h in hits} == {"note-0.md"}, mode
    assert retrievers["bm25"].index.document_frequency("grove") == 1

    ingest([c], folder, hash_embedder, storage=MILVUS)
    after = backends.load(folder, hash_embedder.name)
    rows = query_all(after.client, after.collection, "added >= 0", ["doc_id", "added", "removed"])
    assert {r["doc_id"] for r in rows} == {doc_a, after.documents[1]["doc_id"]}, "the dead writer's rows are gone"
    assert all(r["removed"] > after.generation for r in rows), "and A's retirement mark is undone"
    hits, _ = search(retrievers_for(after, hash_embedder, Settings()), "grove", 10, "bm25", Settings())
    assert {h.chunk.source for h in hits} == {"note-0.md", "note-2.md"}


def test_upserts_are_idempotent_and_a_changed_file_replaces_its_rows(tmp_path, hash_embedder):
    folder = tmp_path / "idx"
    (f,) = _notes(tmp_path, "# Plan\nThe launch date is March.")
    ingest([f], folder, hash_embedder, storage=MILVUS)
    snap = backends.load(folder, hash_embedder.name)
    chunks, vectors = snap.rows(vectors=True)
    _upsert(snap.client, snap.collection, chunks, vectors, snap.generation)  # the same rows again
    assert len(query_all(snap.client, snap.collection, "added >= 0", ["id"])) == len(chunks)
    f.write_text("# Plan\nThe launch date moved to June.")
    ingest([f], folder, hash_embedder, storage=MILVUS)
    after = backends.load(folder, hash_embedder.name)
    assert len(after.documents) == 1 and [c.text for c in after.chunks] == ["The launch date moved to June."]
    hits, _ = search(retrievers_for(after, hash_embedder, Settings()), "launch March", 5, "hybrid", Settings())
    assert all("June" in h.chunk.text for h in hits)


@pytest.mark.parametrize("fusion", ["adaptive", "rrf", "zscore", "minmax"])
def test_milvus_ranks_as_the_local_backend_does(hash_index, milvus_hash_index, hash_embedder, fusion):
    settings = Settings(fusion=fusion)
    local = retrievers_for(backends.load(hash_index, hash_embedder.name), hash_embedder, settings)
    milvus = retrievers_for(backends.load(milvus_hash_index, hash_embedder.name), hash_embedder, settings)
    assert local["bm25"].languages == milvus["bm25"].languages
    for query in QUERIES:
        assert milvus["bm25"].rarity(query) == pytest.approx(local["bm25"].rarity(query)), query
        for mode in ("bm25", "dense", "hybrid"):
            ours, _ = search(milvus, query, 3, mode, settings)
            theirs, _ = search(local, query, 3, mode, settings)
            assert ours[0].chunk.chunk_id == theirs[0].chunk.chunk_id, (query, mode)
            if mode == "dense":
                assert [h.score for h in ours] == pytest.approx([h.score for h in theirs], abs=1e-5)
    ours, theirs = milvus["bm25"].term_weights(), local["bm25"].term_weights()
    assert ours and len(ours) == len(theirs) and set(ours) == set(theirs), "the citation check sees the same vocabulary"
    for term in ("leav", "warranti", "boiler", "nowher"):
        assert ours[term] == pytest.approx(theirs[term]), term


@pytest.mark.slow  # a second process opens the file: a few seconds
def test_a_lite_file_another_process_holds_is_refused_in_words(tmp_path, docs, hash_embedder, monkeypatch):
    from ingest import milvus

    folder = tmp_path / "idx"
    ingest([docs["md"]], folder, hash_embedder, storage=MILVUS)
    release_folder(folder)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pymilvus import MilvusClient; MilvusClient(sys.argv[1]); print('open', flush=True); time.sleep(60)",
                               str(folder / "milvus.db")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        monkeypatch.setattr(milvus, "LOCK_WAIT_S", 0.5)
        with pytest.raises(milvus.MilvusError, match="one process at a time"):
            backends.load(folder, hash_embedder.name)
    finally:
        holder.kill()
        holder.wait()


KILLED_AFTER_FLUSH = """
import os, signal, sys
from milvus_lite.storage.wal import WAL
from ingest.backends import Storage
from ingest.pipeline import ingest
from tests.fakes import HashEmbedder
# SIGKILL where Milvus Lite's flush has saved the collection's manifest and is about to
# delete the write-ahead log it has just written into its data files
WAL.close_and_delete = lambda self: os.kill(os.getpid(), signal.SIGKILL)
ingest([sys.argv[2]], sys.argv[1], HashEmbedder(), storage=Storage("milvus"))
"""


@pytest.mark.slow  # a second process writes and is killed: a few seconds
def test_a_writer_killed_inside_a_lite_flush_leaves_no_row_twice(tmp_path, docs, hash_embedder):
    """Milvus Lite 3.2 replays a WAL its flush already wrote (ingest.milvus.drop_flushed_wal)."""
    folder = tmp_path / "idx"
    ingest([docs["md"]], folder, hash_embedder, storage=MILVUS)
    release_folder(folder)
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_FLUSH, str(folder), str(docs["pdf"])], cwd=Path(__file__).parents[2], capture_output=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    manifest = next((folder / "milvus.db").glob("collections/*/manifest.json"))
    active = json.loads(manifest.read_text())["active_wal_number"]
    assert any(int(w.stem.rsplit("_", 1)[1]) < active for w in (manifest.parent / "wal").glob("wal_*.arrow")), "the kill left a flushed WAL behind"

    snap = backends.load(folder, hash_embedder.name)
    ids = [r["id"] for r in query_all(snap.client, snap.collection, "added >= 0", ["id"])]
    assert {d["source"] for d in snap.documents} == {docs["md"].name, docs["pdf"].name}
    assert len(ids) == len(set(ids)) == len(snap) == sum(d["chunks"] for d in snap.documents)
    release_folder(folder)


def test_dense_scores_are_the_embedders_inner_products(milvus_hash_index, hash_embedder):
    snap = backends.load(milvus_hash_index, hash_embedder.name)
    chunks, vectors = snap.rows(vectors=True)
    query = hash_embedder.embed(["annual leave"], query=True)[0]
    for chunk, score in snap.dense(query, 3):
        assert score == pytest.approx(float(vectors[[c.chunk_id for c in chunks].index(chunk.chunk_id)] @ query), abs=1e-5)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_migrate_moves_a_local_collection_and_it_answers_the_same(tmp_path, docs, hash_embedder):
    from ingest.__main__ import main

    folder = tmp_path / "idx"
    ingest([docs["pdf"], docs["md"]], folder, hash_embedder, chunk_words=30, overlap_words=5)
    before = backends.load(folder, hash_embedder.name)
    expected = {q: [h.chunk.chunk_id for h in search(retrievers_for(before, hash_embedder, Settings()), q, 3, "bm25", Settings())[0]] for q in QUERIES}
    assert main(["migrate", "--index", str(folder)]) == 0
    after = backends.load(folder, hash_embedder.name)
    assert isinstance(after, MilvusSnapshot) and after.generation == before.generation + 1
    assert after.documents == before.documents and len(after) == len(before)
    for q, ids in expected.items():
        assert [h.chunk.chunk_id for h in search(retrievers_for(after, hash_embedder, Settings()), q, 3, "bm25", Settings())[0]][:1] == ids[:1], q
    assert main(["migrate", "--index", str(folder)]) == 1, "a Milvus collection is not migrated again"


def test_tune_re_embedding_swaps_in_a_new_collection_and_drops_the_old(tmp_path, docs, hash_embedder):
    from ingest import index as store
    from rag.tune.stages import adopt

    folder = tmp_path / "idx"
    ingest([docs["pdf"], docs["md"]], folder, hash_embedder, chunk_words=30, overlap_words=5, storage=MILVUS)
    snap = backends.load(folder, hash_embedder.name)
    old = snap.collection
    tuned_embedder = HashEmbedder(dim=256)
    tuned_embedder.name = "tuned-hash-embedder"
    copy = snap.to_index()
    assert [c.chunk_id for c in copy.chunks] == [c.chunk_id for c in snap.chunks] and copy.vectors.shape == (len(snap), 512)
    copy.embedder, copy.dim = tuned_embedder.name, 256
    copy.vectors = tuned_embedder.embed([c.indexed_text for c in copy.chunks])
    report = {"embedder": tuned_embedder.name, "reranker": None, "adopt_reranker": False, "rerank_weight": 1.0, "folder": str(tmp_path)}
    adopt(folder, report, copy, hash_embedder.name, snap.generation, storage=MILVUS)
    after = backends.load(folder, tuned_embedder.name)
    assert after.collection == "sourced_v2" and after.dim == 256 and after.tuned["embedder"] == tuned_embedder.name
    assert not after.client.has_collection(old), "the collection it replaces is dropped"
    hits, _ = search(retrievers_for(after, tuned_embedder, Settings()), "How many days of annual leave?", 3, "hybrid", Settings())
    assert hits[0].chunk.source == "handbook.pdf"
    adopt(folder, report | {"embedder": None}, None, hash_embedder.name, after.generation, storage=MILVUS)  # models only: the same rows
    assert store.read_manifest(folder)["backend"]["collection"] == "sourced_v2" and len(backends.load(folder, tuned_embedder.name)) == len(after)


def test_a_discarded_collection_leaves_no_rows_on_a_shared_server(tmp_path, docs, hash_embedder):
    shared = Storage("milvus", uri=str(tmp_path / "shared.db"))
    a, b = tmp_path / "a", tmp_path / "b"
    ingest([docs["md"]], a, hash_embedder, storage=shared)
    ingest([docs["pdf"]], b, hash_embedder, storage=shared)
    names = {backends.recorded(a)["collection"], backends.recorded(b)["collection"]}
    assert len(names) == 2 and all(n.startswith("sourced_") for n in names)
    client = backends.load(b, hash_embedder.name).client
    backends.discard(a)
    assert not a.exists()
    assert client.list_collections() == [backends.recorded(b)["collection"]]
    assert {d["source"] for d in backends.load(b, hash_embedder.name).documents} == {"handbook.pdf"}


def test_the_app_drops_a_session_and_a_deleted_collection_with_the_servers_token(tmp_path, docs, hash_embedder, monkeypatch):
    # a protected server refuses a drop without credentials, and the visitor's rows would stay on it
    from ingest import milvus
    from ingest.library import Library
    from ingest.sessions import SessionStore

    tokens = []
    real_connect = milvus.connect
    monkeypatch.setattr(milvus, "connect", lambda uri, token="": tokens.append(token) or real_connect(uri, token))
    shared = Storage("milvus", uri=str(tmp_path / "shared.db"), token="sourced:secret")
    store = SessionStore(tmp_path / "sessions", 4, 2**30, milvus_token=shared.token)
    session = store.create("visitor")
    ingest([docs["md"]], session.folder, hash_embedder, storage=shared)
    milvus.release(shared.uri)

    def collections_left() -> list[str]:
        try:
            return real_connect(shared.uri).list_collections()
        finally:
            milvus.release(shared.uri)

    assert len(collections_left()) == 1
    tokens.clear()
    store.end("visitor")
    assert tokens and set(tokens) == {"sourced:secret"} and collections_left() == []

    library = Library(tmp_path / "library", milvus_token=shared.token)
    opened = library.create("Notes")
    ingest([docs["md"]], opened.folder, hash_embedder, storage=shared)
    assert len(collections_left()) == 1
    tokens.clear()
    library.delete(opened.folder.name)
    assert tokens and set(tokens) == {"sourced:secret"} and collections_left() == []


def test_milvus_lite_lists_a_collection_larger_than_a_page_in_pages(tmp_path, docs, hash_embedder, monkeypatch):
    # one gRPC answer stops at 256 MB: 1M chunks' terms (~540 MB) were refused in one query
    from ingest import milvus

    folder = tmp_path / "idx"
    ingest([docs["md"], docs["pdf"]], folder, hash_embedder, storage=MILVUS)
    index = backends.load(folder, hash_embedder.name)
    whole, _ = index.rows()
    table = dict(index.term_table())
    monkeypatch.setattr(milvus, "LITE_PAGE", 2)
    paged = backends.load(folder, hash_embedder.name)
    paged._table = None
    assert len(whole) > 2 and [c.chunk_id for c in paged.rows()[0]] == [c.chunk_id for c in whole]
    assert paged.term_table() == table
