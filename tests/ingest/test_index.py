import json
import os

import numpy as np
import pytest

from ingest import index as store
from ingest.errors import IndexCorruptError, IndexMismatchError
from ingest.pipeline import ingest


@pytest.fixture
def built(hash_index_copy):
    """An index of the docs fixture that the test may change."""
    return hash_index_copy


def test_round_trip_keeps_chunks_vectors_and_lexical_state(built, hash_embedder):
    index = store.load(built, hash_embedder.name)
    assert len(index) == index.vectors.shape[0] == index.tf.shape[0] > 0
    assert {d["source"] for d in index.documents} == {"handbook.pdf", "kestrel-guide.md"}
    np.testing.assert_allclose(np.linalg.norm(index.vectors, axis=1), 1.0, rtol=1e-5)
    assert index.vectors[0] == pytest.approx(hash_embedder.embed([index.chunks[0].indexed_text])[0], rel=1e-6)


def test_no_pickle_on_disk(built):
    gen = built / (built / "CURRENT").read_text().strip()
    for f in gen.iterdir():
        assert b"\x80\x04\x95" not in f.read_bytes()[:64], f"{f.name} looks like a pickle"
    json.loads((gen / "manifest.json").read_text())


def test_refuses_an_index_built_with_another_embedder(built):
    with pytest.raises(IndexMismatchError, match="SOURCED_EMBEDDER"):
        store.load(built, "some-other-model")


def test_corrupt_live_generation_falls_back_to_the_previous_one(built, docs, hash_embedder, tmp_path):
    extra = tmp_path / "extra.txt"
    extra.write_text("A third document about lighthouses and their keepers.")
    ingest([extra], built, hash_embedder)
    live = built / (built / "CURRENT").read_text().strip()
    (live / "chunks.jsonl").write_text("garbage\n")
    index = store.load(built, hash_embedder.name)
    assert {d["source"] for d in index.documents} == {"handbook.pdf", "kestrel-guide.md"}


def test_leftovers_of_a_crashed_writer_are_ignored_and_cleaned(built, hash_embedder, tmp_path):
    before = store.load(built, hash_embedder.name)
    crashed = built / ".gen-000099.tmp-12345"
    crashed.mkdir()
    (crashed / "chunks.jsonl").write_text("half written")
    assert len(store.load(built, hash_embedder.name)) == len(before)
    extra = tmp_path / "more.txt"
    extra.write_text("Something new to index about tides.")
    ingest([extra], built, hash_embedder)
    assert not crashed.exists()


def test_every_generation_corrupt_is_an_error(built, hash_embedder):
    for gen in built.glob("gen-*"):
        (gen / "dense.faiss").write_bytes(b"broken")
    with pytest.raises(IndexCorruptError, match="no intact generation"):
        store.load(built, hash_embedder.name)


def test_old_generations_are_pruned(built, hash_embedder, tmp_path):
    for i in range(4):
        f = tmp_path / f"n{i}.txt"
        f.write_text(f"Document number {i} about subject {i}.")
        ingest([f], built, hash_embedder)
    assert len(list(built.glob("gen-*"))) == store.KEEP_GENERATIONS


def test_a_folder_that_is_not_an_index_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(IndexCorruptError, match="not a Sourced index"):
        store.load(tmp_path)


def test_missing_folder_is_an_empty_index(tmp_path):
    assert len(store.load(tmp_path / "nothing-here")) == 0
    assert not os.path.exists(tmp_path / "nothing-here")


def test_documents_are_listed_without_loading_the_index(built, hash_embedder, monkeypatch):
    folder = built
    expected = store.load(folder, hash_embedder.name).documents
    monkeypatch.setattr(store, "load", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded the whole generation")))
    assert store.read_documents(folder, hash_embedder.name) == expected
    gen = folder / (folder / "CURRENT").read_text().strip()
    (gen / "documents.json").write_text("[]")  # damaged: the checksum no longer matches
    with pytest.raises(AssertionError, match="loaded the whole generation"):
        store.read_documents(folder, hash_embedder.name)
