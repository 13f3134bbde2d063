import pytest

from ingest.pipeline import ingest
from ingest.settings import Settings
from rag.generate import NOT_IN_DOCUMENTS
from rag.pipeline import Collection, Models, answer_once, ask

from ..fakes import HASH_GATE, FakeReranker, ScriptedGenerator


def fake_models(embedder, generator) -> Models:
    return Models(Settings(top_k=3, **HASH_GATE), embedder=embedder, reranker=None, reranker_reason="off in tests", generator=generator)


@pytest.fixture
def collection(any_hash_index, hash_embedder, scripted):
    """The hash index as a Collection, on each storage backend in turn."""
    return Collection(any_hash_index, fake_models(hash_embedder, scripted))


def test_answer_cites_the_right_file_and_page(collection):
    answer = answer_once(collection, "How many days of annual leave does an employee get?")
    assert answer.answerable
    assert "27 days" in answer.text
    cite = answer.citations[0]
    assert (cite.source, cite.page) == ("handbook.pdf", 3)
    assert cite.quote in next(h.chunk.text for h in answer.hits if h.chunk.chunk_id == cite.chunk_id)


def test_markdown_answer_cites_the_guide(collection):
    answer = answer_once(collection, "How long is the Kestrel warranty?")
    assert [(c.source, c.page) for c in answer.citations] == [("kestrel-guide.md", 1)]
    assert answer.models["reranker"] is None and answer.models["reranker_status"] == "off in tests"


def test_tokens_stream_before_the_final_answer(collection):
    events = list(ask(collection, "How many days of annual leave?"))
    kinds = [k for k, _ in events]
    assert kinds.count("token") > 3 and kinds[-1] == "answer"
    assert {"retrieve_ms", "generate_ms", "first_token_ms", "total_ms"} <= events[-1][1].timings_ms.keys()


def test_question_the_documents_do_not_cover_is_refused_without_generating(collection):
    answer = answer_once(collection, "What is the capital of France?")
    assert not answer.answerable and answer.text.startswith(NOT_IN_DOCUMENTS)
    assert answer.citations == []
    assert collection.models.generator.prompts == [], "the gate stops before the model"


def test_empty_question_is_an_error(collection):
    with pytest.raises(ValueError, match="empty"):
        answer_once(collection, "   ")


def test_empty_collection_says_so(tmp_path, hash_embedder, scripted):
    c = Collection(tmp_path / "none", Models(Settings(), embedder=hash_embedder, reranker=None, generator=scripted))
    answer = answer_once(c, "Anything?")
    assert not answer.answerable and "No documents" in answer.text


def test_collection_sees_a_new_generation_without_restarting(docs, hash_embedder, scripted, tmp_path, storage):
    folder = tmp_path / "idx"
    ingest([docs["pdf"], docs["md"]], folder, hash_embedder, chunk_words=30, overlap_words=5, storage=storage)
    collection = Collection(folder, fake_models(hash_embedder, scripted))
    assert not collection.search("lighthouse keeper", 3, "bm25")[0]
    f = tmp_path / "light.txt"
    f.write_text("The lighthouse keeper lights the lamp at dusk.")
    ingest([f], collection.folder, collection.models.embedder)
    hits, _ = collection.search("lighthouse keeper", 3, "bm25")
    assert hits[0].chunk.source == "light.txt"


def test_follow_up_is_rewritten_before_retrieval(collection):
    collection.models._generator = ScriptedGenerator([("how long", "The warranty lasts 4 years [1].")])
    history = [{"role": "user", "content": "Tell me about the Kestrel 3 warranty."}, {"role": "assistant", "content": "It covers the pump [1]."}]
    answer = answer_once(collection, "and how long does it last?", history)
    assert answer.query == "And how long does the Kestrel 3 warranty last?"
    assert answer.citations and answer.citations[0].source == "kestrel-guide.md"
    assert len(collection.models._generator.prompts) == 1, "the rewrite asks no model; only the answer does"


def test_unknown_mode_is_refused(collection):
    with pytest.raises(ValueError, match="mode="):
        collection.search("x", 3, "magic")


def test_rerank_mode_uses_the_reranker_when_loaded(collection):
    collection.models._reranker = reranker = FakeReranker()  # longer passages first
    hits, timings = collection.search("leave", 3, "rerank")
    assert "rerank_ms" in timings
    assert [query for query, _ in reranker.calls] == ["leave"]
    assert [h.score for h in hits] == sorted((float(len(h.chunk.indexed_text)) for h in hits), reverse=True)


def test_a_repeated_question_is_answered_from_the_cache_until_the_collection_changes(hash_index_copy, hash_embedder, scripted, tmp_path):
    collection = Collection(hash_index_copy, Models(Settings(top_k=3, **HASH_GATE), embedder=hash_embedder, reranker=None, generator=scripted))
    question = "How many days of annual leave do employees get?"
    first = answer_once(collection, question)
    assert first.answerable and "27 days" in first.text
    prompts = len(scripted.prompts)
    again = answer_once(collection, question)
    assert len(scripted.prompts) == prompts, "no generation for a repeated question"
    assert (again.text, again.citations) == (first.text, first.citations)
    assert set(again.timings_ms) == {"cache_ms", "total_ms"} and "answered from the cache" in again.notes[-1]
    assert "answered from the cache" not in " ".join(first.notes), "the cached answer was copied, not changed"
    answer_once(collection, question, [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi"}])
    assert len(scripted.prompts) > prompts, "another conversation is another question"
    prompts = len(scripted.prompts)
    extra = tmp_path / "memo.txt"
    extra.write_text("The cafeteria opens at 08:00.")
    ingest([extra], hash_index_copy, hash_embedder)
    answer_once(collection, question)
    assert len(scripted.prompts) > prompts, "a new generation invalidates the cache"


def test_models_know_whether_the_adapter_answers_without_loading_the_llm():
    bundled = Models(Settings())
    assert bundled.adapter_answers and bundled._generator is None, "the bundled model answers with its adapter by default"
    assert not Models(Settings(llm_adapter="none")).adapter_answers
    assert not Models(Settings(llm="some/other-model.gguf")).adapter_answers, "the adapter belongs to the bundled model"
    assert Models(Settings(), generator=ScriptedGenerator(adapter="lora")).adapter_answers
    assert not Models(Settings(), generator=ScriptedGenerator()).adapter_answers


def test_the_gate_before_the_adapter_is_its_own_calibration(any_hash_index, hash_embedder, monkeypatch):
    from ingest.models import DEFAULT_EMBEDDER
    from rag import gate

    monkeypatch.setitem(gate.CALIBRATED, DEFAULT_EMBEDDER, {"threshold": 5.0, "coverage_weight": 0.3, "adapter_threshold": 0.15})
    question = "How many days of annual leave does an employee get?"
    for generator, passes in ((ScriptedGenerator(), False), (ScriptedGenerator(adapter="lora"), True)):
        models = Models(Settings(top_k=3, answer_at=0.0), embedder=hash_embedder, reranker=None, generator=generator)
        answer = answer_once(Collection(any_hash_index, models), question)
        assert bool(generator.prompts) == passes, (generator.adapter, answer.notes)
