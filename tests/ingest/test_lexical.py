import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from ingest.lexical import bm25_scores, bm25_weights, term_counts, tokenize
from ingest.loaders import clean_text

from ..conftest import GUIDE_MD, HANDBOOK_PAGES

CORPUS = [clean_text(t) for t in HANDBOOK_PAGES + GUIDE_MD.split("\n\n")] + [
    "the the the of of and",  # only stop words: zero length after analysis
    "Leave leave leave: leave is leaving.",
    "Part number KX-3310-B fits the Kestrel 3 boiler.",
]


def test_tokenize_lowercases_stems_and_drops_stop_words():
    assert tokenize("The Runners were RUNNING to the 3 boilers") == ["runner", "run", "3", "boiler"]
    assert tokenize("the of and") == []


@pytest.mark.parametrize(
    "query",
    ["annual leave", "leave leave policy", "kestrel boiler warranty", "KX-3310-B", "unknown words only", "the", ""],
)
def test_sparse_bm25_equals_rank_bm25(query):
    tokens = [tokenize(t) for t in CORPUS]
    reference = BM25Okapi(tokens)
    vocab: dict[str, int] = {}
    weights = bm25_weights(term_counts(tokens, vocab))
    ours = bm25_scores(weights, vocab, tokenize(query))
    np.testing.assert_allclose(ours, reference.get_scores(tokenize(query)), rtol=1e-5, atol=1e-6)


def test_common_terms_get_the_epsilon_idf_floor_like_rank_bm25():
    corpus = [["a", "b"], ["a", "c"], ["a", "d"], ["e"]]  # "a" in 3 of 4 documents: negative Okapi idf
    vocab: dict[str, int] = {}
    ours = bm25_scores(bm25_weights(term_counts(corpus, vocab)), vocab, ["a"])
    np.testing.assert_allclose(ours, BM25Okapi(corpus).get_scores(["a"]), rtol=1e-6)
    assert (ours[:3] > 0).all() and ours[3] == 0


def test_empty_collection_scores_nothing():
    vocab: dict[str, int] = {}
    weights = bm25_weights(term_counts([], vocab))
    assert bm25_scores(weights, vocab, ["x"]).shape == (0,)


def test_a_one_chunk_collection_still_matches():
    """rank-bm25 scores every match below zero here (its idf floor is negative); ours stays positive."""
    corpus = [tokenize("The warranty lasts four years.")]
    vocab: dict[str, int] = {}
    scores = bm25_scores(bm25_weights(term_counts(corpus, vocab)), vocab, tokenize("warranty"))
    assert BM25Okapi(corpus).get_scores(tokenize("warranty"))[0] < 0
    assert scores[0] > 0
