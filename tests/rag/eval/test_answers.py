import pytest

from ingest.settings import Settings
from rag.eval.answers import QA, answer_text, evaluate_answers, exact_match, extractive_answer, normalise_answer, token_f1
from rag.eval.datasets import load_dataset
from rag.eval.retrieval import corpus_index
from rag.pipeline import Collection, Models

from ...fakes import ScriptedGenerator
from .test_retrieval import tiny_beir  # noqa: F401  (fixture)


def test_squad_normalisation_and_metrics_by_hand():
    assert normalise_answer("The  Denver Broncos!") == "denver broncos"
    assert exact_match("the Denver Broncos.", ["Denver Broncos", "Broncos"]) == 1.0
    # prediction "broncos won super bowl" vs gold "denver broncos": 1 common, p=1/4, r=1/2
    assert token_f1("Broncos won Super Bowl", ["Denver Broncos"]) == pytest.approx(2 * 0.25 * 0.5 / 0.75)
    assert token_f1("nothing", ["Denver Broncos"]) == 0.0


def test_answer_text_drops_markers_and_tags():
    assert answer_text("It lasts 4 years [2]. Paris is nice. (not found in the sources)") == "It lasts 4 years. Paris is nice."


def test_llm_and_baseline_on_answerable_and_unanswerable_copies(tiny_beir, tmp_path, hash_embedder):  # noqa: F811
    ds = load_dataset(tiny_beir)
    script = [("descale", "Descale the boiler every 90 days [1]."), ("warranty", "The warranty lasts 4 years [1].")]
    models = Models(Settings(top_k=2), embedder=hash_embedder, reranker=None, generator=ScriptedGenerator(script))
    own = Collection.of(corpus_index(ds, hash_embedder, tmp_path, progress=False), models)
    ds_other = load_dataset(tiny_beir)
    ds_other.corpus = {"x1": ("Lighthouses", "Lighthouse keepers light lamps at dusk.")}
    other = Collection.of(corpus_index(ds_other, hash_embedder, tmp_path, progress=False), models)
    qas = [QA("1", "How often should I descale the boiler?", ["every 90 days"], "d1"), QA("2", "How long is the warranty?", ["4 years"], "d2")]
    result = evaluate_answers(qas, own, other, models.settings)
    llm = result["llm"]
    assert llm["answer_rate"] == 1.0 and llm["citation_precision"] == 1.0
    assert llm["f1"] > 0.4 and llm["refusal_rate_unanswerable"] == 1.0
    assert result["extractive"]["answer_rate"] == 1.0 and result["extractive"]["refusal_rate_unanswerable"] == 1.0


def test_extractive_baseline_picks_the_best_sentence(tiny_beir, tmp_path, hash_embedder):  # noqa: F811
    models = Models(Settings(), embedder=hash_embedder, reranker=None, generator=ScriptedGenerator())
    c = Collection.of(corpus_index(load_dataset(tiny_beir), hash_embedder, tmp_path, progress=False), models)
    hits, _ = c.search("how many days of paid leave", 3)
    sentence, ok, cid = extractive_answer("how many days of paid leave", hits, Settings())
    assert ok and cid == "d3" and "27 days" in sentence
