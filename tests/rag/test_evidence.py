"""rag.evidence: the sentence of the passages that best answers a question (pure)."""

import numpy as np

from ingest.types import Chunk
from rag import evidence
from rag.citations import rarity_weights
from rag.types import Hit


def _hits(*texts: str, scores=None) -> list[Hit]:
    scores = scores or [10.0 - i for i in range(len(texts))]
    return [Hit(Chunk(f"c{i}", "d", f"f{i}.pdf", i + 1, 0, len(t), t), s) for i, (t, s) in enumerate(zip(texts, scores))]


def _column(x: np.ndarray, name: str) -> list[float]:
    return x[:, evidence.FEATURES.index(name)].tolist()


def test_every_sentence_of_every_passage_is_a_candidate_with_its_passage_rank():
    cands = evidence.candidates(_hits("One two three. Four five six.", "Seven eight"))
    assert [(c.n, c.text) for c in cands] == [(1, "One two three."), (1, "Four five six."), (2, "Seven eight")]
    assert evidence.candidates([]) == [] and evidence.ranked("anything", []) == []


def test_features_say_what_the_question_asks_for():
    hits = _hits("The stadium opened in 1957. It was built by Smith.", "It has many seats.")
    cands = evidence.candidates(hits)
    x = evidence.features("When did the stadium open?", cands, [h.score for h in hits])
    assert _column(x, "when_year") == [1.0, 0.0, 0.0]
    assert _column(x, "mass")[0] > 0 and _column(x, "mass")[2] == 0.0 and _column(x, "is_max") == [1.0, 0.0, 0.0]
    assert _column(x, "top_passage") == [1.0, 1.0, 0.0] and _column(x, "first_sentence") == [1.0, 0.0, 1.0]
    assert _column(x, "cos") == [0.0, 0.0, 0.0], "no similarity: a constant the softmax ignores"
    assert _column(x, "bigrams") == [1.0, 0.0, 0.0], "the question's word pair 'stadium open', in order"
    assert _column(evidence.features("Did they open the stadium?", cands, [1.0, 1.0]), "bigrams")[0] == 0.0, "not in that order"
    who = evidence.features("Who built the stadium?", cands, [h.score for h in hits])
    assert _column(who, "who_name") == [0.0, 1.0, 0.0], "a name the question does not give; a capitalised first word is no name"
    assert evidence.features("anything", [], []).shape == (0, len(evidence.FEATURES))


def test_the_rare_question_words_decide_and_the_year_answers_when():
    weights = rarity_weights([["team"], ["team"], ["team"], ["denver", "bronco"], ["team"]])
    hits = _hits("The team played well. The team won.", "The Denver Broncos won the title in 2016.")
    best = evidence.ranked("When did the Denver Broncos team win?", hits, weights)[0]
    assert (best.n, best.text) == (2, "The Denver Broncos won the title in 2016.")


def test_the_quote_cites_its_own_passage():
    hits = _hits("Nothing here.", "Every employee receives 27 days of paid annual leave per year.")
    found = evidence.quote("How many days of paid annual leave?", hits)
    assert (found.n, found.source, found.page, found.chunk_id) == (2, "f1.pdf", 2, "c1")
    assert found.quote == "Every employee receives 27 days of paid annual leave per year."
    assert evidence.quote("anything", []) is None


def test_similarity_counts_when_given():
    hits = _hits("Alpha beta.", "Gamma delta.", scores=[1.0, 1.0])
    def similar(question, texts):
        return np.array([1.0 if "Gamma" in t else 0.0 for t in texts])
    assert evidence.ranked("What is it?", hits, None, similar)[0].text == "Gamma delta."
    assert evidence.ranked("What is it?", hits)[0].text == "Alpha beta.", "ties keep rank order"


def test_embedding_similarity_is_the_cosine(hash_embedder):
    sim = evidence.embedding_similarity(hash_embedder)
    got = sim("paid leave", ["paid leave", "a cat"])
    assert got.shape == (2,) and got[0] > got[1] and abs(got[0]) <= 1.0001
    assert sim("q", []).shape == (0,)


def test_the_ranking_gives_each_sentence_its_share_of_being_the_answer():
    hits = _hits("The stadium opened in 1957. It has many seats.", "Nothing about it.")
    ranked, shares = evidence.ranking("When did the stadium open?", hits)
    assert ranked == evidence.ranked("When did the stadium open?", hits) and ranked[0].text == "The stadium opened in 1957."
    assert abs(shares.sum() - 1.0) < 1e-9 and list(shares) == sorted(shares, reverse=True)
    assert evidence.ranking("anything", [])[1].shape == (0,) and evidence.shares(np.zeros(0)).shape == (0,)


def test_the_evidence_joins_the_neighbour_the_scorer_is_torn_over():
    hits = _hits("This led to hundreds of churches. Most of them were destroyed in 1944. The city grew.", "Other text.")
    first, second, third, other = evidence.candidates(hits)
    found, share = evidence.best(hits, [second, first, third, other], np.array([0.5, 0.3, 0.1, 0.1]))
    assert (found.n, found.text, share) == (1, "This led to hundreds of churches. Most of them were destroyed in 1944.", 0.8)
    assert evidence.citation(hits, found).quote == found.text, "the quote is the passage's own text, both sentences"
    assert evidence.best(hits, [second, first], np.array([0.9, 0.1]))[0] == second, "a second choice below SECOND_AT of the first stays out"
    assert evidence.best(hits, [first, third], np.array([0.5, 0.5]))[0] == first, "not the first one's neighbour"
    assert evidence.best(hits, [second, other], np.array([0.5, 0.5])) == (second, 0.5), "another passage"
    assert evidence.best(hits, [], np.zeros(0)) == (None, 0.0)


def test_a_sentence_two_overlapping_chunks_repeat_is_one_candidate_with_both_shares():
    full = "The FAA also proposes to require inspections of the flight control cables."
    hits = _hits(f"Earlier rules applied. {full}", f"{full} Comments are due soon.", "The FAA also proposes to", scores=[10.0, 9.0, 8.0])
    cut = hits[2]
    hits[2] = Hit(Chunk("c2", "d", "f0.pdf", 1, 0, 24, cut.chunk.text), 8.0)  # a chunk whose edge cut the sentence
    other = Hit(Chunk("c3", "e", "g.pdf", 1, 0, len(full), full), 7.0)  # the same words in another file stay apart
    question = "What does the FAA propose to require?"
    cands = evidence.candidates([*hits, other])
    assert evidence.originals([*hits, other], cands) == [0, 1, 1, 3, 1, 5], "the repeat and the cut piece are copies of passage 1's sentence"
    ranked, shares = evidence.ranking(question, [*hits, other])
    alone = evidence.shares(evidence.scores(evidence.features(question, cands, [h.score for h in [*hits, other]])))
    assert [c.text for c in ranked].count(full) == 2 and "The FAA also proposes to" not in [c.text for c in ranked]
    top = next(i for i, c in enumerate(ranked) if c.text == full and c.n == 1)
    assert shares[top] == max(shares) and abs(shares[top] - (alone[1] + alone[2] + alone[4])) < 1e-9
    assert abs(shares.sum() - 1.0) < 1e-9
