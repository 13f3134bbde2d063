"""The Milvus backend on Milvus Lite: what it stores, that a search never sees half of
a write, that a dead writer's rows are undone, and that it ranks as the local backend
does (the tests shared with the local backend take the `storage` fixture elsewhere)."""

from __future__ import annotations

import json
import subprocess
import sys

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


def test_dense_scores_are_the_embedders_inner_products(milvus_hash_index, hash_embedder):
    snap = backends.load(milvus_hash_index, hash_embedder.name)
    chunks, vectors = snap.rows(vectors=True)
    query = hash_embedder.embed(["annual leave"], query=True)[0]
    for chunk, score in snap.dense(query, 3):
        assert score == pytest.approx(float(vectors[[c.chunk_id for c in chunks].index(chunk.chunk_id)] @ query), abs=1e-5)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
