import json
import math

import pytest

from ingest.settings import MODES, Settings
from rag.eval.datasets import load_dataset
from rag.eval.metrics import mrr_at_k, ndcg_at_k, overlap_at_k, recall_at_k
from rag.eval.retrieval import corpus_index, evaluate


def test_ndcg_by_hand_with_graded_relevance():
    qrels = {"a": 3, "b": 1, "z": 2}
    ranking = ["b", "x", "a"]
    dcg = 1 / math.log2(2) + 3 / math.log2(4)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranking, qrels, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["a", "z", "b"], qrels, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0
    assert ndcg_at_k(["x", "a"], {"a": 1}, 1) == 0.0, "cut at k"


def test_recall_and_mrr_by_hand():
    qrels = {"a": 1, "b": 1, "c": 0}
    assert recall_at_k(["x", "a", "c"], qrels, 10) == 0.5
    assert recall_at_k(["x", "a", "b"], qrels, 2) == 0.5
    assert mrr_at_k(["x", "c", "b"], qrels, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x"] * 10 + ["a"], qrels, 10) == 0.0
    assert recall_at_k([], {}, 10) == 0.0


def test_ann_overlap():
    assert overlap_at_k(["a", "b", "c"], ["a", "c", "d"], 3) == pytest.approx(2 / 3)
    assert overlap_at_k([], [], 10) == 1.0


@pytest.fixture
def tiny_beir(tmp_path):
    d = tmp_path / "tiny"
    (d / "qrels").mkdir(parents=True)
    corpus = [
        ("d1", "Espresso", "Descale the boiler every 90 days with citric acid."),
        ("d2", "Warranty", "The warranty lasts 4 years and covers the pump."),
        ("d3", "Leave", "Employees receive 27 days of paid annual leave."),
        ("d4", "Hours", "Core hours are 10 to 15 on weekdays."),
    ]
    (d / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in corpus))
    queries = [("q1", "how often to descale the boiler"), ("q2", "warranty length"), ("q3", "paid leave days"), ("q4", "no judgement")]
    (d / "queries.jsonl").write_text("\n".join(json.dumps({"_id": i, "text": t}) for i, t in queries))
    (d / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq3\td3\t1\nq4\td4\t0\n")
    return d


def test_dataset_loading_skips_queries_without_relevant_documents(tiny_beir):
    ds = load_dataset(tiny_beir)
    assert set(ds.queries) == {"q1", "q2", "q3"} and len(ds.corpus) == 4
    with pytest.raises(FileNotFoundError, match="qrels/dev.tsv"):
        load_dataset(tiny_beir, "dev")


@pytest.mark.parametrize("mode", MODES)
def test_evaluate_every_mode_on_a_tiny_dataset(tiny_beir, tmp_path, hash_embedder, mode):
    ds = load_dataset(tiny_beir)
    index = corpus_index(ds, hash_embedder, tmp_path / "cache", progress=False)
    result = evaluate(ds, index, hash_embedder, Settings(), mode)
    assert result["queries"] == 3 and result["ndcg@10"] == pytest.approx(1.0) and result["mrr@10"] == 1.0
    assert result["ann"] == "flat" and result["ann_recall@10"] == 1.0


def test_embeddings_are_cached_per_model_and_corpus(tiny_beir, tmp_path, hash_embedder):
    ds = load_dataset(tiny_beir)
    corpus_index(ds, hash_embedder, tmp_path / "cache", progress=False)
    calls = []
    original = hash_embedder.embed
    hash_embedder.embed = lambda texts, query=False: calls.append(len(texts)) or original(texts, query=query)
    corpus_index(ds, hash_embedder, tmp_path / "cache", progress=False)
    assert calls == [], "second run reads the cache"
    ds.corpus["d5"] = ("New", "A new document.")
    corpus_index(ds, hash_embedder, tmp_path / "cache", progress=False)
    assert calls == [5], "a changed corpus is embedded again"


def test_hnsw_is_used_above_the_threshold_and_checked_against_exact(tiny_beir, tmp_path, hash_embedder):
    ds = load_dataset(tiny_beir)
    index = corpus_index(ds, hash_embedder, tmp_path / "cache", progress=False)
    result = evaluate(ds, index, hash_embedder, Settings(ann="auto", ann_threshold=2), "dense")
    assert result["ann"] == "hnsw" and result["ann_recall@10"] == pytest.approx(1.0)


def test_paired_gain_is_the_mean_difference_and_its_standard_error():
    from rag.eval.metrics import paired_gain

    gain, se = paired_gain([0.5, 0.7, 0.9], [0.4, 0.5, 0.6])
    assert gain == pytest.approx(0.2) and se == pytest.approx(0.1 / 3**0.5)
    assert paired_gain([], []) == (0.0, 0.0) and paired_gain([1.0], [0.0]) == (1.0, 0.0)
    with pytest.raises(ValueError, match="one score per query"):
        paired_gain([1.0], [])
