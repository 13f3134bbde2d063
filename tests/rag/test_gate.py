"""The evidence gate by hand: hits with known dense scores and known key-word coverage,
so every verdict, evidence value and reason below is computed on paper.

QUESTION has four content words after stop words and stemming: long, pump, warranti,
last. Each passage's coverage is the share of them it contains.
"""

import pytest

from ingest.types import Chunk
from rag.gate import Verdict, decide, dense_evidence, query_coverage
from rag.rerank import rerank
from rag.types import Hit

from ..fakes import FakeReranker

QUESTION = "How long does the pump warranty last?"
HALF = "The pump warranty"  # pump, warranti: 2 of 4
QUARTER = "The pump"  # 1 of 4
ALL = "The warranty lasts long for the pump"  # 4 of 4
THREE = "The warranty lasts long"  # 3 of 4
NONE = "Descale the boiler"  # 0 of 4


def hit(text: str, dense: float | None = None, section: str = "", **scores) -> Hit:
    """A hit on a chunk of `text`; `dense` is its cosine, as the dense retriever records it."""
    if dense is not None:
        scores["dense_score"] = dense
    return Hit(Chunk(text, "d", "guide.md", 1, 0, len(text), text, section), 1.0, scores)


def gate(hits, *, threshold=0.55, coverage_weight=0.2, min_coverage=0.5, min_rerank=None) -> Verdict:
    return decide(QUESTION, hits, threshold=threshold, coverage_weight=coverage_weight, min_coverage=min_coverage, min_rerank=min_rerank)


# ---------------------------------------------------------------- the two signals


def test_coverage_is_the_best_share_of_key_words_among_the_top_three():
    assert query_coverage(QUESTION, [hit(QUARTER), hit(HALF)]) == 0.5
    assert query_coverage(QUESTION, [hit(QUARTER), hit(THREE), hit(HALF)]) == 0.75, "the best passage, not the first"
    assert query_coverage(QUESTION, [hit(NONE), hit(NONE), hit(QUARTER), hit(ALL)]) == 0.25, "the fourth passage is not looked at"
    assert query_coverage(QUESTION, [hit(NONE), hit(NONE), hit(QUARTER), hit(ALL)], top=4) == 1.0


def test_coverage_counts_the_heading_path_and_is_zero_without_words():
    assert query_coverage(QUESTION, [hit("It lasts long", section="Pump warranty")]) == 1.0, "section + text is what is indexed"
    assert query_coverage(QUESTION, [hit(NONE)]) == 0.0
    assert query_coverage(QUESTION, []) == 0.0
    assert query_coverage("What is it?", [hit(ALL)]) == 0.0, "only stop words: nothing to cover"


def test_dense_evidence_is_the_best_cosine_or_none_without_dense_scores():
    assert dense_evidence([hit(HALF, 0.2), hit(QUARTER), hit(NONE, 0.6)]) == 0.6
    assert dense_evidence([hit(HALF, -0.1)]) == -0.1
    assert dense_evidence([hit(HALF), hit(QUARTER, bm25_score=7.0)]) is None


# ---------------------------------------------------------------- dense + weight x coverage


def test_no_hits_are_refused():
    assert gate([]) == Verdict(False, 0.0, "no passage matched the question")


def test_evidence_above_the_threshold_is_answered():
    verdict = gate([hit(HALF, 0.5)])  # 0.5 + 0.2 x 0.5 = 0.6 >= 0.55
    assert verdict.answerable and verdict.reason == ""
    assert verdict.evidence == pytest.approx(0.6)


def test_evidence_below_the_threshold_is_refused_with_its_numbers():
    verdict = gate([hit(HALF, 0.5)], threshold=0.65)  # 0.6 < 0.65
    assert not verdict.answerable
    assert verdict.evidence == pytest.approx(0.6)
    assert verdict.reason == "evidence 0.60 (similarity 0.50, key-word coverage 50%) is below the gate's 0.65"


def test_coverage_weight_lifts_a_weak_similarity_over_the_threshold():
    hits = [hit(ALL, 0.4)]  # coverage 1.0
    assert not gate(hits, threshold=0.55, coverage_weight=0.0).answerable, "0.4 alone is below"
    assert not gate(hits, threshold=0.55, coverage_weight=0.1).answerable, "0.4 + 0.1 = 0.5 is below"
    verdict = gate(hits, threshold=0.55, coverage_weight=0.2)
    assert verdict.answerable and verdict.evidence == pytest.approx(0.6)


def test_the_best_dense_score_and_the_best_coverage_may_come_from_different_passages():
    verdict = gate([hit(NONE, 0.5), hit(ALL, 0.1)], threshold=0.7)  # 0.5 + 0.2 x 1.0
    assert verdict.answerable and verdict.evidence == pytest.approx(0.7)


def test_a_tie_at_the_threshold_is_answered():
    hits = [hit(HALF, 0.5)]  # 0.5 + 0.5 x 0.5 = 0.75, exact in binary
    assert gate(hits, threshold=0.75, coverage_weight=0.5) == Verdict(True, 0.75, "")
    assert not gate(hits, threshold=0.75 + 1e-9, coverage_weight=0.5).answerable


def test_with_dense_scores_min_coverage_plays_no_part():
    assert gate([hit(NONE, 0.6)], min_coverage=1.0).answerable, "coverage 0 but similarity 0.6 >= 0.55"


# ---------------------------------------------------------------- BM25 only: coverage alone


def test_without_dense_scores_coverage_must_reach_min_coverage():
    hits = [hit(HALF, bm25_score=3.0)]
    answered = gate(hits, threshold=99.0, min_coverage=0.5)  # the threshold is for dense evidence only
    assert answered == Verdict(True, 0.5, ""), "a tie at min_coverage is answered"
    refused = gate(hits, threshold=0.0, min_coverage=0.75)
    assert refused == Verdict(False, 0.5, "the best passages contain 50% of the question's key words is below the gate's 0.75")


def test_without_dense_scores_the_coverage_weight_plays_no_part():
    hits = [hit(THREE)]
    assert gate(hits, coverage_weight=0.0, min_coverage=0.75).evidence == 0.75
    assert gate(hits, coverage_weight=10.0, min_coverage=0.75).evidence == 0.75


# ---------------------------------------------------------------- the reranker's own bar


def reranked(*scores: float) -> list[Hit]:
    """Hits on HALF-coverage passages with dense 0.5 (evidence 0.6), reordered by the
    fake reranker: the top one then carries the best rerank score."""
    texts = [f"{HALF} {n}" for n in ("one", "two", "three")[: len(scores)]]
    by_text = dict(zip(texts, scores)).__getitem__
    return rerank(FakeReranker(by_text), QUESTION, [hit(t, 0.5) for t in texts], depth=len(texts))


def test_a_top_rerank_score_below_min_rerank_is_refused():
    hits = reranked(0.5, 1.5)
    assert hits[0].scores["rerank"] == 1.5
    verdict = gate(hits, min_rerank=2.0)
    assert verdict == Verdict(False, 1.5, "the reranker's best score 1.50 is below 2.00")


def test_a_rerank_score_at_min_rerank_is_answered_with_the_dense_evidence():
    verdict = gate(reranked(0.5, 1.5), min_rerank=1.5)
    assert verdict.answerable and verdict.evidence == pytest.approx(0.6)


def test_min_rerank_applies_only_when_set_and_when_a_reranker_scored():
    assert gate(reranked(-3.0), min_rerank=None).answerable, "no bar set"
    assert gate([hit(HALF, 0.5)], min_rerank=2.0).answerable, "no rerank score: fusion alone, no bar"


def test_the_evidence_bar_is_checked_before_the_rerank_bar():
    verdict = gate(reranked(-3.0), threshold=0.65, min_rerank=0.0)
    assert not verdict.answerable and verdict.reason.startswith("evidence 0.60")


def test_options_are_the_settings_gate_fields():
    from ingest.settings import Settings
    from rag.gate import options

    s = Settings(gate_threshold=0.4, gate_coverage_weight=0.2, gate_min_coverage=0.7, gate_min_rerank=1.5)
    assert options(s) == {"threshold": 0.4, "coverage_weight": 0.2, "min_coverage": 0.7, "min_rerank": 1.5}


def test_thresholds_follow_the_embedder_and_an_uncalibrated_one_leaves_coverage_to_decide():
    from ingest.settings import Settings
    from rag.gate import options

    minilm = options(Settings())
    assert (minilm["threshold"], minilm["coverage_weight"]) == (0.57, 0.3), "docs/GATE.md's calibration of the default embedder"
    other = options(Settings(embedder="intfloat/multilingual-e5-small"))
    assert other["threshold"] is None, "an e5 cosine is not on MiniLM's scale"
    assert options(Settings(embedder="intfloat/multilingual-e5-small", gate_threshold=0.8))["threshold"] == 0.8, "a setting wins"
    high_cosine = [hit(QUARTER, 0.95)]  # 1 of 4 key words: an uncalibrated cosine must not carry it
    assert gate(high_cosine, threshold=0.5).answerable
    verdict = gate(high_cosine, threshold=None, min_coverage=0.5)
    assert not verdict.answerable and "key words" in verdict.reason
    assert gate([hit(ALL, 0.1)], threshold=None).answerable


def test_the_adapter_has_the_gate_calibrated_with_its_own_refusals_and_a_setting_still_wins():
    from ingest.settings import Settings
    from rag.gate import options

    assert options(Settings())["threshold"] == 0.57 and options(Settings(), adapter=True)["threshold"] == 0.50, "docs/EVAL.md's calibration"
    assert options(Settings(gate_threshold=0.6), adapter=True)["threshold"] == 0.6
    assert options(Settings(embedder="intfloat/multilingual-e5-small"), adapter=True)["threshold"] is None, "no MiniLM scale borrowed"
    between = [hit(ALL, 0.22)]  # evidence 0.22 + 0.3 x 1.0 = 0.52: refused before a base model, let through to the adapter
    assert not gate(between, threshold=0.57, coverage_weight=0.3).answerable and gate(between, threshold=0.50, coverage_weight=0.3).answerable


def test_a_tuned_encoder_keeps_the_gate_of_the_encoder_it_was_tuned_from(tmp_path):
    from ingest.index import Index, save
    from ingest.models import DEFAULT_EMBEDDER
    from ingest.settings import Settings
    from rag.gate import options
    from rag.pipeline import collection_settings

    encoder = tmp_path / "enc"
    encoder.mkdir()
    save(Index(embedder=str(encoder), dim=4, tuned={"from": DEFAULT_EMBEDDER, "embedder": str(encoder)}), tmp_path / "index")
    tuned = collection_settings(Settings(), tmp_path / "index")
    assert tuned.embedder == str(encoder) and options(tuned)["threshold"] == 0.57
    assert options(tuned, adapter=True)["threshold"] == 0.57, "the adapter's gate was calibrated on the base encoder's cosines"
    assert options(collection_settings(Settings(gate_threshold=0.6), tmp_path / "index"))["threshold"] == 0.6
