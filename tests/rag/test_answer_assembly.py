"""An answer never looks right when it is not (#13, part 2): a sentence no source
supports is kept out of the answer and shown struck through; an answer with no
supported sentence quotes the best evidence, labelled as a quote; the direct answer
leads and the verbatim quotes follow with file and page."""

from ingest.settings import Settings
from ingest.types import Chunk
from rag.generate import NOT_IN_DOCUMENTS
from rag.pipeline import Collection, Models, answer_once, assemble
from rag.render import QUOTE_LABEL, UNSUPPORTED_LABEL, answer_markdown, render_details, render_sources
from rag.types import Answer, Hit

from ..fakes import HASH_GATE, ScriptedGenerator

LEAVE = "How many days of paid annual leave does an employee get?"


def _collection(index, embedder, reply: str) -> Collection:
    models = Models(Settings(top_k=3, **HASH_GATE), embedder=embedder, reranker=None, reranker_reason="off in tests", generator=ScriptedGenerator([("annual leave", reply)]))
    return Collection(index, models)


def test_an_unsupported_sentence_is_not_part_of_the_answer_and_is_shown_struck_through(hash_index, hash_embedder):
    answer = answer_once(_collection(hash_index, hash_embedder, "Every employee receives 27 days of paid annual leave per year [1]. Unused days are paid out in December."), LEAVE)
    assert answer.answerable and answer.fallback == ""
    assert answer.text == "Every employee receives 27 days of paid annual leave per year [1]."
    assert answer.unsupported == ["Unused days are paid out in December."]
    md = answer_markdown(answer)
    lead, quotes, unsupported = md.split("\n\n")
    assert "27 days" in lead and "December" not in lead
    assert quotes.startswith("> \u201cEvery employee receives 27 days of paid annual leave per year.\u201d — handbook.pdf, page 3 [\\[1\\]](#cite-")
    assert unsupported == f"**{UNSUPPORTED_LABEL}**  \n~~Unused days are paid out in December.~~"
    assert answer.to_json()["unsupported"] == ["Unused days are paid out in December."] and answer.to_json()["fallback"] is None


def test_no_supported_sentence_falls_back_to_the_best_evidence_quoted(hash_index, hash_embedder):
    answer = answer_once(_collection(hash_index, hash_embedder, "Employees get 40 days of leave and a company car [1]."), LEAVE)
    assert answer.answerable and answer.fallback == "quote"
    assert answer.text == "\u201cEvery employee receives 27 days of paid annual leave per year.\u201d [1]"
    assert [(c.source, c.page, c.quote) for c in answer.citations] == [("handbook.pdf", 3, "Every employee receives 27 days of paid annual leave per year.")]
    assert answer.unsupported == ["Employees get 40 days of leave and a company car."]
    md = answer_markdown(answer)
    assert md.startswith(f"_{QUOTE_LABEL}_\n\n> \u201cEvery employee") and "— handbook.pdf, page 3" in md and "~~Employees get 40 days" in md
    assert "<mark>Every employee receives 27 days of paid annual leave per year.</mark>" in render_sources(answer)
    assert answer.to_json()["fallback"] == "quote"


def test_a_model_that_finds_nothing_in_relevant_passages_gets_the_quote_too(hash_index, hash_embedder):
    """Without the adapter no probability decides a refusal (greedy decoding refuses
    wherever it is unsure), so relevant passages get the quoted evidence."""
    c = _collection(hash_index, hash_embedder, NOT_IN_DOCUMENTS)
    answer = answer_once(c, LEAVE)
    assert answer.fallback == "quote" and "27 days" in answer.text and answer.unsupported == []
    assert answer.refusal_p is None and c.models.generator.choices == []


def test_what_the_gate_finds_irrelevant_is_refused_with_the_closest_passages(hash_index, hash_embedder):
    c = _collection(hash_index, hash_embedder, "Paris [1].")
    answer = answer_once(c, "What is the capital of France?")
    assert not answer.answerable and answer.fallback == "" and answer.text.startswith(NOT_IN_DOCUMENTS)
    assert answer.citations == [] and c.models.generator.prompts == []
    assert "<h4>Closest passages</h4>" in render_sources(answer)


def test_the_adapter_gets_its_own_prompt_and_its_sure_refusal_is_trusted(hash_index, hash_embedder):
    """The adapter's prompt has no worked example; it may answer only with one of its
    sources' own lines (rag.verbatim), and a refusal it was sure of is kept: the
    closest passages are listed, nothing is quoted as if it answered."""
    models = Models(Settings(top_k=3, **HASH_GATE), embedder=hash_embedder, reranker=None, reranker_reason="off in tests", generator=ScriptedGenerator([("annual leave", NOT_IN_DOCUMENTS)], adapter="answerer-lora.gguf"))
    answer = answer_once(Collection(hash_index, models), LEAVE)
    assert not answer.answerable and answer.fallback == "" and answer.text == NOT_IN_DOCUMENTS + " The closest passages are listed below."
    assert answer.citations == [] and answer.refusal_p == 1.0 and answer.to_json()["refusal_probability"] == 1.0
    assert "the model is sure the passages do not answer it (refusal probability 1.00)" in answer.notes
    assert answer.models["llm_adapter"] == "answerer-lora.gguf" and "**LLM:** fake-scripted-llm + adapter answerer-lora.gguf" in render_details(answer)
    prompt = models.generator.prompts[0]
    assert "trail-bike" not in prompt and prompt.endswith("\nAnswer:") and "Source [3] (" in prompt
    (choices,) = models.generator.choices
    assert choices.lines == ["Every employee receives 27 days of paid annual leave per year [1]."] and choices.refusal == NOT_IN_DOCUMENTS
    assert len(choices.pool) > 1, "the refusal is weighed against every line the prompt shows"


def test_the_quoted_fallback_cites_the_passage_its_sentence_comes_from():
    texts = ["The office opens at nine. Parking is free.", "Every employee receives 27 days of paid annual leave per year. Leave is booked online."]
    hits = [Hit(Chunk(f"c{i}", "d", "handbook.pdf", i + 3, 0, len(t), t), 2.0 - i) for i, t in enumerate(texts)]
    answer = assemble(Answer(question=LEAVE, text="", answerable=False, citations=[], hits=hits), "", LEAVE)
    assert answer.fallback == "quote" and answer.text == "\u201cEvery employee receives 27 days of paid annual leave per year.\u201d [2]"
    assert [(c.n, c.page, c.chunk_id) for c in answer.citations] == [(2, 4, "c1")]


def test_a_supported_answer_of_the_adapter_is_kept_like_any_other(hash_index, hash_embedder):
    models = Models(Settings(top_k=3, **HASH_GATE), embedder=hash_embedder, reranker=None, reranker_reason="off in tests", generator=ScriptedGenerator([("annual leave", "Every employee receives 27 days of paid annual leave per year [1].")], adapter="answerer-lora.gguf"))
    answer = answer_once(Collection(hash_index, models), LEAVE)
    assert answer.answerable and answer.fallback == "" and answer.text == "Every employee receives 27 days of paid annual leave per year [1]."


def test_the_adapter_refuses_without_writing_when_no_sentence_stands_out(hash_index, hash_embedder):
    generator = ScriptedGenerator([("annual leave", "Every employee receives 27 days of paid annual leave per year [1].")], adapter="answerer-lora.gguf")
    sure = answer_once(Collection(hash_index, Models(Settings(top_k=3, **HASH_GATE), embedder=hash_embedder, reranker=None, generator=generator)), LEAVE)
    assert sure.answerable and 0.0 < sure.evidence_p <= 1.0 and sure.to_json()["evidence_probability"] == round(sure.evidence_p, 4)
    generator.prompts.clear()
    strict = Models(Settings(top_k=3, answer_at=1.01, **HASH_GATE), embedder=hash_embedder, reranker=None, generator=generator)
    answer = answer_once(Collection(hash_index, strict), LEAVE)
    assert not answer.answerable and answer.text == NOT_IN_DOCUMENTS + " The closest passages are listed below."
    assert answer.evidence_p == sure.evidence_p and "no sentence of the passages stands out" in answer.notes[-1]
    assert generator.prompts == [], "refused before the model writes"
