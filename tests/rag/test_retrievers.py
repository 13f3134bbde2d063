import numpy as np
import pytest

from ingest import index as store
from rag.retrievers import BM25Retriever, DenseRetriever, HybridRetriever, top_k


@pytest.fixture
def index(hash_index, hash_embedder):
    return store.load(hash_index, hash_embedder.name)


def test_top_k_is_sorted_with_stable_ties_and_any_k():
    s = np.array([0.1, 0.9, 0.5, 0.9])
    assert top_k(s, 3).tolist() == [1, 3, 2]
    assert top_k(s, 10).tolist() == [1, 3, 2, 0]
    assert top_k(s, 0).tolist() == []


@pytest.mark.parametrize("make", ["bm25", "dense", "hybrid"])
def test_retriever_contract(index, hash_embedder, make):
    bm25, dense = BM25Retriever(index), DenseRetriever(index, hash_embedder)
    r = {"bm25": bm25, "dense": dense, "hybrid": HybridRetriever({"bm25": bm25, "dense": dense}, depth=10)}[make]
    hits = r.search("how many days of annual leave", 3)
    assert len(hits) <= 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert "27 days" in hits[0].chunk.text
    assert len(r.search("leave", 10_000)) <= len(index)


def test_bm25_finds_exact_strings_and_nothing_for_unknown_words(index):
    bm25 = BM25Retriever(index)
    assert "citric acid" in bm25.search("citric", 1)[0].chunk.text
    assert bm25.search("zeppelin xylophone", 5) == []


def test_hybrid_keeps_evidence_from_both_retrievers(index, hash_embedder):
    hybrid = HybridRetriever({"bm25": BM25Retriever(index), "dense": DenseRetriever(index, hash_embedder)})
    top = hybrid.search("warranty years", 1)[0]
    assert {"bm25_rank", "dense_rank", "bm25_score", "dense_score", "fused"} <= top.scores.keys()


def test_hybrid_rejects_unknown_fusion(index, hash_embedder):
    with pytest.raises(ValueError, match="fusion="):
        HybridRetriever({"bm25": BM25Retriever(index)}, fusion="max")
