"""Questions asked while an ingest runs see one whole generation, before or after,
never half of one; and the real LLM, which is not thread-safe, serves several
threads at once without crashing or mixing their answers."""

from __future__ import annotations

import threading

from ingest.pipeline import ingest
from ingest.settings import Settings
from rag.generate import generate
from rag.pipeline import Collection, Models

from .fakes import HashEmbedder, ScriptedGenerator

ROUNDS = 30


def _consistent(index) -> None:
    assert len(index.chunks) == index.vectors.shape[0] == index.tf.shape[0], "chunks, vectors and BM25 rows agree"
    assert {c.doc_id for c in index.chunks} == index.doc_ids, "every chunk belongs to a listed document"
    assert sum(d["chunks"] for d in index.documents) == len(index.chunks)


def test_searches_during_ingest_see_whole_generations(tmp_path):
    emb = HashEmbedder()
    folder = tmp_path / "idx"
    collection = Collection(folder, Models(Settings(), embedder=emb, reranker=None, generator=ScriptedGenerator()))
    files = []
    for i in range(ROUNDS):
        f = tmp_path / f"bulletin-{i:02d}.txt"
        f.write_text(" ".join(f"Line {j} of bulletin {i}: harbour crane c{i} moved box b{j}." for j in range(30 + 10 * i)))
        files.append(f)
    ingest(files[:1], folder, emb)
    done = threading.Event()
    errors: list[BaseException] = []
    seen_generations: set[int] = set()

    def writer():
        try:
            for f in files[1:]:
                ingest([f], folder, emb)
        except BaseException as e:  # reported by the main thread
            errors.append(e)
        finally:
            done.set()

    def reader():
        try:
            n_docs = 0
            while not done.is_set():
                index, retrievers = collection.snapshot()
                _consistent(index)
                assert len(index.documents) >= n_docs, "documents never disappear"
                n_docs = len(index.documents)
                seen_generations.add(index.generation)
                for mode in ("bm25", "dense"):
                    hits = retrievers[mode].search("where did box b3 go", 10)
                    assert hits and all(h.chunk.doc_id in index.doc_ids for h in hits)
                hits, _ = collection.search("where did box b3 go", 10, "hybrid")
                after, _ = collection.snapshot()
                assert hits and {h.chunk.doc_id for h in hits} <= after.doc_ids
        except BaseException as e:
            errors.append(e)
            done.set()

    threads = [threading.Thread(target=writer), threading.Thread(target=reader), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(seen_generations) > 3, f"the readers really ran while generations changed: {sorted(seen_generations)}"
    final, _ = collection.snapshot()
    _consistent(final)
    assert len(final.documents) == ROUNDS


def test_the_llm_serves_three_threads_at_once(gemma):
    prompt = (
        "Source [1] (manual.pdf, page 3): The Model X blender has a 1200 watt motor.\n"
        "Question: How powerful is the motor?\nAnswer:"
    )
    answers: list[str] = []
    errors: list[BaseException] = []

    def ask():
        try:
            answers.append("".join(generate(gemma, prompt, max_tokens=24)))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(answers) == 3
    assert all("1200" in a and "\n" not in a for a in answers), answers
    assert len(set(answers)) == 1, "greedy decoding: the same prompt gives the same answer in every thread"
