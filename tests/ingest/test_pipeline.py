from ingest import index as store
from ingest.pipeline import collect_files, ingest, remove

from ..pdfgen import write_pdf


def test_adds_files_and_reports_chunks(tmp_path, docs, hash_embedder):
    report = ingest([docs["pdf"], docs["md"]], tmp_path / "idx", hash_embedder)
    assert [a["source"] for a in report.added] == ["handbook.pdf", "kestrel-guide.md"]
    assert report.added[0]["pages"] == 3
    assert report.chunks == report.total_chunks == sum(a["chunks"] for a in report.added)
    assert report.skipped == []


def test_same_content_twice_changes_nothing(tmp_path, docs, hash_embedder):
    folder = tmp_path / "idx"
    ingest([docs["pdf"]], folder, hash_embedder)
    gen = (folder / "CURRENT").read_text()
    copy = tmp_path / "renamed-copy.pdf"
    copy.write_bytes(docs["pdf"].read_bytes())
    report = ingest([docs["pdf"], copy], folder, hash_embedder)
    assert report.added == []
    assert all("already indexed" in s["reason"] for s in report.skipped)
    assert (folder / "CURRENT").read_text() == gen, "no new generation for nothing new"


def test_changed_file_with_same_name_replaces_the_old_version(tmp_path, hash_embedder):
    folder, f = tmp_path / "idx", tmp_path / "notes.md"
    f.write_text("# Notes\nThe launch date is March.")
    ingest([f], folder, hash_embedder)
    f.write_text("# Notes\nThe launch date moved to June.")
    ingest([f], folder, hash_embedder)
    index = store.load(folder, hash_embedder.name)
    assert len(index.documents) == 1
    assert all("June" in c.text for c in index.chunks)


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


def test_remove_takes_chunks_out_of_both_indexes(tmp_path, docs, hash_embedder):
    folder = tmp_path / "idx"
    ingest([docs["pdf"], docs["md"]], folder, hash_embedder)
    index = store.load(folder, hash_embedder.name)
    pdf_id = next(d["doc_id"] for d in index.documents if d["source"] == "handbook.pdf")
    removed = remove(folder, {pdf_id}, hash_embedder.name)
    after = store.load(folder, hash_embedder.name)
    assert removed == sum(c.doc_id == pdf_id for c in index.chunks) > 0
    assert {c.source for c in after.chunks} == {"kestrel-guide.md"}
    assert after.vectors.shape[0] == after.tf.shape[0] == len(after.chunks)
