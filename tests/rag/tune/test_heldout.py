"""The held-out check's verdict in words (rag.tune.heldout.verdict), on reports shaped
as rag.tune.stages.run writes them."""

from rag.tune.heldout import verdict


def _check(gain: float, se: float) -> dict:
    return {"gain": gain, "standard_error": se, "adopt": gain > 0 and gain > se}


def _metrics(ndcg: float) -> dict:
    return {"ndcg@10": ndcg, "recall@10": 0.9, "mrr@10": 0.5}


def report(encoder: tuple[float, float, float], reranker: tuple[float, float, float], weight: float = 0.3) -> dict:
    """(before, after, standard error) of hybrid nDCG@10 for the encoder, and of hybrid
    against hybrid + rerank for the reranker."""
    enc, rr = _check(round(encoder[1] - encoder[0], 4), encoder[2]), _check(round(reranker[1] - reranker[0], 4), reranker[2])
    return {
        "examples": {"judged": 0, "llm": 120, "cloze": 400, "heldout": 30},
        "heldout_before": {"dense": _metrics(0.5), "hybrid": _metrics(encoder[0])},
        "heldout_after": {"dense": _metrics(0.55), "hybrid": _metrics(encoder[1]), "rerank": _metrics(reranker[1])},
        "encoder_versus_untuned": enc,
        "rerank_calibration": {"weight": weight, "rerank": _metrics(reranker[1]), "hybrid": _metrics(reranker[0]), "versus_hybrid": rr},
        "rerank_weight": weight,
        "adopt_embedder": enc["adopt"],
        "adopt_reranker": rr["adopt"],
    }


def test_an_adopted_encoder_and_a_rejected_reranker_are_explained_with_their_numbers():
    text = verdict(report((0.61, 0.68, 0.02), (0.68, 0.69, 0.03)))
    assert text == (
        "The tuned encoder was adopted: on 30 held-out questions, hybrid search scored nDCG@10 0.610 → 0.680 (+0.070, more than its standard error of 0.020). "
        "The trained reranker was not adopted: mixed in at weight 0.3, it moved the tuned encoder's hybrid search from nDCG@10 0.680 to 0.690 "
        "(+0.010, within its standard error of 0.030, so it may be noise). Searches use what was adopted from now on."
    )


def test_when_nothing_helps_the_collection_is_said_to_be_unchanged():
    text = verdict(report((0.61, 0.58, 0.02), (0.61, 0.61, 0.01), weight=0.1))
    assert text.startswith("The tuned encoder was not adopted: on 30 held-out questions, hybrid search scored nDCG@10 0.610 → 0.580 (-0.030: worse).")
    assert "The trained reranker was not adopted: mixed in at weight 0.1, it moved hybrid search from nDCG@10 0.610 to 0.610 (no change)." in text
    assert text.endswith("The collection is unchanged: searches work as before.")


def test_a_reranker_alone_can_be_adopted():
    text = verdict(report((0.61, 0.615, 0.02), (0.61, 0.66, 0.01)))
    assert "encoder was not adopted" in text and "reranker was adopted" in text and "(+0.050, more than its standard error of 0.010)" in text
    assert text.endswith("Searches use what was adopted from now on.")


def test_a_verdict_on_few_held_out_questions_says_so():
    few = report((0.61, 0.62, 0.02), (0.62, 0.62, 0.0))
    few["examples"]["heldout"] = 4
    assert "on 4 held-out questions" in verdict(few) and "Only 4 questions were held out, too few to tell a small gain from noise." in verdict(few)
    assert "Only" not in verdict(report((0.61, 0.62, 0.02), (0.62, 0.62, 0.0)))


def test_without_held_out_questions_nothing_is_adopted_blind():
    empty = {"examples": {"heldout": 0}, "heldout_before": {}, "heldout_after": {}, "encoder_versus_untuned": {}, "rerank_calibration": {}, "adopt_embedder": False, "adopt_reranker": False}
    assert verdict(empty).startswith("Nothing was adopted: no questions were held out")


def test_an_adopted_fusion_is_explained_and_the_default_is_not_mentioned():
    from rag.tune.heldout import FUSION_CANDIDATES

    tuned = report((0.61, 0.60, 0.02), (0.61, 0.61, 0.01))
    z = {"fusion": "zscore", "bm25_weight": 0.1, "dense_weight": 0.9}
    tuned["fusion_calibration"] = {"fusion": z, "ndcg@10_by_fusion": {"adaptive": 0.61, "z-score 0.1/0.9": 0.66}, "versus_default": _check(0.05, 0.01)}
    tuned["adopt_fusion"] = True
    text = verdict(tuned)
    assert "Fusion z-score 0.1/0.9 was adopted over the adaptive default: nDCG@10 0.610 → 0.660 (+0.050, more than its standard error of 0.010)." in text
    assert text.endswith("Searches use what was adopted from now on.")
    tuned["fusion_calibration"] = {"fusion": FUSION_CANDIDATES[0], "ndcg@10_by_fusion": {"adaptive": 0.61}, "versus_default": _check(0.0, 0.0)}
    tuned["adopt_fusion"] = False
    assert "Fusion" not in verdict(tuned) and verdict(tuned).endswith("The collection is unchanged: searches work as before.")


def test_fusion_is_calibrated_on_the_held_out_questions(hash_index, hash_embedder):
    from ingest import index as store
    from ingest.settings import Settings
    from rag.tune.heldout import FUSION_CANDIDATES, calibrate_fusion, fusion_label

    index = store.load(hash_index, hash_embedder.name)
    by_text = {c.chunk_id: c.text for c in index.chunks}
    leave = next(cid for cid, t in by_text.items() if "27 days" in t)
    acid = next(cid for cid, t in by_text.items() if "citric acid" in t)
    qrels = {"how many days of annual leave": {leave: 1}, "which acid is used": {acid: 1}}
    result = calibrate_fusion(qrels, index, hash_embedder, Settings.from_env({}))
    assert list(result["ndcg@10_by_fusion"]) == [fusion_label(c) for c in FUSION_CANDIDATES]
    best = max(result["ndcg@10_by_fusion"].values())
    assert result["ndcg@10_by_fusion"][fusion_label(result["fusion"])] == best
    assert result["versus_default"]["adopt"] is False, "two questions cannot show a gain beyond noise"
    assert calibrate_fusion({}, index, hash_embedder, Settings.from_env({})) == {}
