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


def test_adaptive_fusion_needs_both_retrievers(index, hash_embedder):
    with pytest.raises(ValueError, match="adaptive fusion needs"):
        HybridRetriever({"dense": DenseRetriever(index, hash_embedder)}, fusion="adaptive")


def test_adaptive_fusion_leans_on_the_retriever_the_query_calls_for(index, hash_embedder):
    bm25, dense = BM25Retriever(index), DenseRetriever(index, hash_embedder)
    hybrid = HybridRetriever({"bm25": bm25, "dense": dense}, depth=10, fusion="adaptive")
    assert bm25.rarity("citric") > 0.55 > bm25.rarity("the")  # a word few passages hold / none at all
    common = "leave"
    assert bm25.rarity(common) <= 0.55
    rankings = {"bm25": bm25.search(common, 10), "dense": dense.search(common, 10)}
    assert hybrid.adaptive(common, rankings) == pytest.approx([0.1, 0.9])
    assert hybrid.search("citric acid", 1)[0].chunk.text == bm25.search("citric acid", 1)[0].chunk.text


def test_a_collection_in_a_language_the_embedder_does_not_know_is_ranked_by_bm25(tmp_path, hash_embedder):
    from ingest.pipeline import ingest

    german = [
        "Der Paketmanager apt installiert Pakete aus den konfigurierten Quellen und löst Abhängigkeiten automatisch auf.",
        "Mit dem Befehl ls werden die Dateien eines Verzeichnisses aufgelistet, mit der Option -l ausführlich.",
        "Die Firewall wird mit nftables konfiguriert; die Regeln stehen in der Datei /etc/nftables.conf.",
        "Ein Benutzer wird mit adduser angelegt, sein Passwort ändert er später mit dem Befehl passwd.",
    ]
    for i, text in enumerate(german):
        (tmp_path / f"d{i}.txt").write_text(text)
    ingest(sorted(tmp_path.glob("d*.txt")), tmp_path / "idx", hash_embedder)
    index = store.load(tmp_path / "idx", hash_embedder.name)
    assert {c.lang for c in index.chunks} == {"de"}
    bm25, dense = BM25Retriever(index), DenseRetriever(index, hash_embedder)
    assert bm25.languages == ("de",) and not dense.trusts("de")
    hybrid = HybridRetriever({"bm25": bm25, "dense": dense}, depth=10, fusion="adaptive")
    question = "Wie werden die Pakete mit ihren Abhängigkeiten installiert?"
    assert [h.chunk.chunk_id for h in hybrid.search(question, 4)][: len(bm25.search(question, 4))] == [h.chunk.chunk_id for h in bm25.search(question, 4)]
    assert "Paketmanager" in bm25.search("Paket installieren", 1)[0].chunk.text  # German stems: Pakete ~ Paket
