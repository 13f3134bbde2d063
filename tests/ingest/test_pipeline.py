import pytest

from ingest import IngestCancelled
from ingest import backends
from ingest import index as store
from ingest.pipeline import OUT_OF_TIME, Limits, collect_files, ingest, remove

from ..fakes import HashEmbedder
from ..pdfgen import write_pdf


def test_adds_files_and_reports_chunks(tmp_path, docs, hash_embedder, storage):
    report = ingest([docs["pdf"], docs["md"]], tmp_path / "idx", hash_embedder, storage=storage)
    assert [a["source"] for a in report.added] == ["handbook.pdf", "kestrel-guide.md"]
    assert report.added[0]["pages"] == 3
    assert report.chunks == report.total_chunks == sum(a["chunks"] for a in report.added)
    assert report.skipped == []


def test_same_content_twice_changes_nothing(tmp_path, docs, hash_embedder, storage):
    folder = tmp_path / "idx"
    ingest([docs["pdf"]], folder, hash_embedder, storage=storage)
    gen = (folder / "CURRENT").read_text()
    copy = tmp_path / "renamed-copy.pdf"
    copy.write_bytes(docs["pdf"].read_bytes())
    report = ingest([docs["pdf"], copy], folder, hash_embedder, storage=storage)
    assert report.added == []
    assert all("already indexed" in s["reason"] for s in report.skipped)
    assert (folder / "CURRENT").read_text() == gen, "no new generation for nothing new"


def test_changed_file_with_same_name_replaces_the_old_version(tmp_path, hash_embedder, storage):
    folder, f = tmp_path / "idx", tmp_path / "notes.md"
    f.write_text("# Notes\nThe launch date is March.")
    ingest([f], folder, hash_embedder, storage=storage)
    f.write_text("# Notes\nThe launch date moved to June.")
    ingest([f], folder, hash_embedder, storage=storage)
    index = backends.load(folder, hash_embedder.name)
    assert len(index.documents) == 1 == len({c.doc_id for c in index.chunks})
    assert index.chunks and all("June" in c.text for c in index.chunks)


def test_bad_files_are_skipped_and_the_rest_indexed(tmp_path, docs, hash_embedder):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    fake = tmp_path / "fake.pdf"
    fake.write_text("not a pdf")
    locked = write_pdf(tmp_path / "locked.pdf", ["secret"], password="pw")
    folder = tmp_path / "idx"
    ingest([docs["md"]], folder, hash_embedder)
    report = ingest([empty, fake, locked, docs["pdf"], tmp_path / "missing.md"], folder, hash_embedder)
    reasons = {s["path"].split("/")[-1]: s["reason"] for s in report.skipped}
    assert set(reasons) == {"empty.txt", "fake.pdf", "locked.pdf", "missing.md"}
    assert "encrypted" in reasons["locked.pdf"] and "not a PDF" in reasons["fake.pdf"]
    sources = {d["source"] for d in store.load(folder, hash_embedder.name).documents}
    assert sources == {"kestrel-guide.md", "handbook.pdf"}, "earlier documents are kept"


def test_folders_are_walked_for_supported_files(tmp_path):
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "a.md").write_text("a")
    (tmp_path / "docs" / "sub" / "b.txt").write_text("b")
    (tmp_path / "docs" / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "docs" / ".hidden.md").write_text("h")
    files, skipped = collect_files([tmp_path / "docs"])
    assert [name for _, name in files] == ["docs/a.md", "docs/sub/b.txt"]
    assert skipped == []


def test_remove_takes_chunks_out_of_both_indexes(tmp_path, docs, hash_embedder, storage):
    from rag.retrievers import retrievers_for
    from ingest.settings import Settings

    folder = tmp_path / "idx"
    ingest([docs["pdf"], docs["md"]], folder, hash_embedder, storage=storage)
    index = backends.load(folder, hash_embedder.name)
    pdf_id = next(d["doc_id"] for d in index.documents if d["source"] == "handbook.pdf")
    removed = remove(folder, {pdf_id}, hash_embedder.name, storage=storage)
    after = backends.load(folder, hash_embedder.name)
    assert removed == sum(c.doc_id == pdf_id for c in index.chunks) > 0
    assert {c.source for c in after.chunks} == {"kestrel-guide.md"}
    assert len(after) == len(after.chunks)
    if storage.kind == "local":
        assert after.vectors.shape[0] == after.tf.shape[0] == len(after.chunks)
    for name, retriever in retrievers_for(after, hash_embedder, Settings()).items():
        assert {h.chunk.source for h in retriever.search("annual leave handbook warranty", 10)} == {"kestrel-guide.md"}, name


def _bulletins(tmp_path, n: int, sentences: int = 40) -> list:
    files = []
    for i in range(n):
        f = tmp_path / f"bulletin-{i}.txt"
        f.write_text(" ".join(f"Bulletin {i} line {j}: crane c{i} moved box b{j}." for j in range(sentences)))
        files.append(f)
    return files


def test_a_file_past_the_passage_limit_is_refused_whole_and_the_rest_kept(tmp_path, hash_embedder):
    small, big = _bulletins(tmp_path, 1)[0], tmp_path / "big.txt"
    big.write_text("word " * 6000)  # within the characters that fit, but ~50 passages
    report = ingest([small, big], tmp_path / "idx", hash_embedder, limits=Limits(max_chunks=20))
    assert [a["source"] for a in report.added] == ["bulletin-0.txt"]
    (skipped,) = report.skipped
    assert "makes more than" in skipped["reason"] and "at most 20 in all, SOURCED_MAX_CHUNKS" in skipped["reason"]
    assert report.total_chunks <= 20


def test_files_not_embedded_before_the_deadline_are_reported_and_earlier_ones_kept(tmp_path):
    clock = [0.0]

    class Slow(HashEmbedder):  # each batch takes a second of the test's clock
        def embed(self, texts, *, query=False):
            clock[0] += 1.0
            return super().embed(texts, query=query)

    files = _bulletins(tmp_path, 6, sentences=3000)  # ~200 chunks each: an embedding group is two files
    report = ingest(files, tmp_path / "idx", Slow(), limits=Limits(deadline=30.0, clock=lambda: clock[0]))
    assert [a["source"] for a in report.added] == [f.name for f in files[:2]], "whole files, in order"
    assert [s["reason"] for s in report.skipped] == [OUT_OF_TIME] * 4
    assert store.load(tmp_path / "idx", "fake-hash-embedder").doc_ids == {a["doc_id"] for a in report.added}


def test_a_cancelled_ingest_writes_nothing(tmp_path, hash_embedder, storage):
    folder = tmp_path / "idx"
    calls = []
    with pytest.raises(IngestCancelled):
        ingest(_bulletins(tmp_path, 3), folder, hash_embedder, limits=Limits(cancelled=lambda: calls.append(1) or len(calls) > 2), storage=storage)
    assert store.current_generation(folder) is None


def test_without_create_a_deleted_folder_is_never_made_again(tmp_path, hash_embedder):
    folder = tmp_path / "session"
    with pytest.raises(IngestCancelled, match="is gone"):
        ingest(_bulletins(tmp_path, 1), folder, hash_embedder, create=False)
    assert not folder.exists()


def test_folders_can_be_refused(tmp_path, docs, hash_embedder):
    report = ingest([docs["md"].parent], tmp_path / "idx", hash_embedder, folders=False)
    assert report.added == [] and "a folder, not a file" in report.skipped[0]["reason"]
