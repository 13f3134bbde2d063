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


def test_answer_accuracy_is_a_gold_answer_inside_the_answer():
    """ALCE's correctness for long answers: the normalised gold string, as whole words."""
    from rag.eval.answers import answer_accuracy, answer_text

    assert answer_accuracy("The AFC was represented by the Denver Broncos [1].", ["Denver Broncos"]) == 1.0
    assert answer_accuracy(answer_text("\u201cIt lasted from 1754\u20131763.\u201d [1]"), ["1754\u20131763"]) == 1.0, "a quoted fallback, as scored"
    assert answer_accuracy("The Broncos.", ["Denver Broncos"]) == 0.0
    assert answer_accuracy("Latinos live here.", ["Latin"]) == 0.0, "whole words only"
    assert answer_accuracy("anything", [""]) == 0.0


def test_articles_split_in_two_fixed_halves_that_never_mix(tmp_path):
    import json

    from rag.eval.answers import load_qa
    from rag.eval.datasets import article_half, split_articles

    titles = [f"Article_{i}" for i in range(24)]
    halves = split_articles(titles)
    assert sorted(halves.values()).count("train") == 12 and halves == split_articles(list(reversed(titles))), "the order given does not matter"
    assert article_half("Article_3", titles) == halves["Article_3"]
    with open(tmp_path / "qa.jsonl", "w", encoding="utf-8") as f:
        for i in range(72):
            f.write(json.dumps({"id": str(i), "question": f"q{i}", "answers": ["a"], "context_id": "c", "title": titles[i % 24]}) + "\n")
    train, test = load_qa(tmp_path, None, articles="train"), load_qa(tmp_path, None, articles="test")
    assert len(train) == len(test) == 36 and not {q.title for q in train} & {q.title for q in test}
    assert {halves[q.title] for q in test} == {"test"}
    assert len({q.title for q in test[:12]}) == 12, "each article in turn"
    with pytest.raises(ValueError, match="articles must be one of"):
        load_qa(tmp_path, None, articles="dev")
