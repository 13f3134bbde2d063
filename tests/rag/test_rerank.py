"""The real sentence-transformers CrossEncoder path, with a tiny locally built model."""

from ingest.types import Chunk
from rag.rerank import CrossEncoderReranker, load_reranker, rerank
from rag.types import Hit

from ..fakes import FakeReranker


def test_missing_reranker_is_reported_in_plain_words(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reranker, reason = load_reranker("no-such-org/no-such-cross-encoder")
    assert reranker is None
    assert "no-such-org/no-such-cross-encoder" in reason and "fusion alone" in reason


def test_reranking_can_be_turned_off():
    reranker, reason = load_reranker("none")
    assert reranker is None and "turned off" in reason


def test_cross_encoder_scores_and_reorders(tiny_cross_encoder):
    model = CrossEncoderReranker(tiny_cross_encoder)
    texts = ["The warranty lasts 4 years.", "Descale every 90 days.", "Leave is 27 days."]
    scores = model.score("How long is the warranty?", texts)
    assert len(scores) == 3 and all(isinstance(s, float) for s in scores)
    assert model.score("q", []) == []
    hits = [Hit(Chunk(str(i), "d", "s", 1, 0, 1, t), 1.0 - i / 10) for i, t in enumerate(texts)] + [Hit(Chunk("tail", "d", "s", 1, 0, 1, "x"), 0.1)]
    ranked = rerank(model, "How long is the warranty?", hits, depth=3)
    assert [h.score for h in ranked[:3]] == sorted(scores, reverse=True)
    assert ranked[3].chunk.chunk_id == "tail", "hits beyond the depth keep their place below"
    assert all("rerank" in h.scores for h in ranked[:3])


def test_load_reranker_from_a_local_folder(tiny_cross_encoder):
    reranker, reason = load_reranker(tiny_cross_encoder)
    assert reranker is not None and reason == ""


def test_a_weight_below_one_mixes_the_reranker_with_the_fused_order():
    hits = [Hit(Chunk(c, "d", "s", 1, 0, 1, c), s) for c, s in (("a", 3.0), ("b", 2.0), ("c", 1.0), ("tail", 0.5))]
    scores = {"a": 0.0, "b": 1.0, "c": 5.0}.__getitem__  # "tail", beyond the depth, is never scored
    alone = rerank(FakeReranker(scores), "q", hits, depth=3)
    assert [h.chunk.chunk_id for h in alone] == ["c", "b", "a", "tail"]
    mixed = rerank(FakeReranker(scores), "q", hits, depth=3, weight=0.3)
    assert [h.chunk.chunk_id for h in mixed] == ["a", "b", "c", "tail"], "the fused order outweighs a mild reranker preference"
    assert [h.scores["rerank"] for h in mixed[:3]] == [0.0, 1.0, 5.0], "the reranker's own score stays as evidence"
