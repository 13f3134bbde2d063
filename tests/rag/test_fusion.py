import numpy as np
import pytest

from ingest.types import Chunk
from rag.fusion import linear_fusion, normalise, reciprocal_rank_fusion
from rag.types import Hit


def hits(*ids_scores):
    return [Hit(Chunk(i, "d", "s", 1, 0, 1, i), s) for i, s in ids_scores]


A = hits(("a", 9.0), ("b", 5.0), ("c", 1.0))
B = hits(("c", 0.9), ("a", 0.8), ("d", 0.1))


def test_rrf_matches_hand_computed_scores():
    fused = reciprocal_rank_fusion([A, B], k=60, names=["bm25", "dense"])
    scores = {h.chunk.chunk_id: h.score for h in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    assert scores["d"] == pytest.approx(1 / 63)
    assert [h.chunk.chunk_id for h in fused] == ["a", "c", "b", "d"]
    assert fused[0].scores == {"fused": pytest.approx(1 / 61 + 1 / 62), "bm25_rank": 1, "dense_rank": 2}


def test_rrf_weights_and_zero_weight():
    only_b = reciprocal_rank_fusion([A, B], k=60, weights=[0.0, 1.0])
    assert [h.chunk.chunk_id for h in only_b][:3] == ["c", "a", "d"]
    assert only_b[-1].score == 0.0


def test_rrf_ties_keep_first_seen_order_and_empty_inputs_work():
    x, y = hits(("x", 1.0)), hits(("y", 1.0))
    assert [h.chunk.chunk_id for h in reciprocal_rank_fusion([x, y])] == ["x", "y"]
    assert reciprocal_rank_fusion([[], []]) == []
    assert reciprocal_rank_fusion([]) == []


def test_fusion_validates_arguments():
    with pytest.raises(ValueError, match="one weight per ranking"):
        reciprocal_rank_fusion([A, B], weights=[1.0])
    with pytest.raises(ValueError, match="non-negative"):
        linear_fusion([A, B], weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="k=-1"):
        reciprocal_rank_fusion([A], k=-1)


def test_normalise_minmax_zscore_and_constant():
    assert normalise([1, 3, 5], "minmax").tolist() == [0.0, 0.5, 1.0]
    assert normalise([2, 2], "minmax").tolist() == [1.0, 1.0]
    z = normalise([1, 2, 3], "zscore")
    assert z.mean() == pytest.approx(0) and z[2] == pytest.approx(1.2247449)
    with pytest.raises(ValueError):
        normalise([1], "softmax")


def test_linear_fusion_minmax_by_hand():
    fused = linear_fusion([A, B], weights=[0.3, 0.7], method="minmax")
    s = {h.chunk.chunk_id: h.score for h in fused}
    # A minmax: a 1, b 0.5, c 0; B minmax: c 1, a 0.875, d 0; absent -> that ranking's minimum (0)
    assert s["a"] == pytest.approx(0.3 * 1 + 0.7 * 0.875)
    assert s["c"] == pytest.approx(0.3 * 0 + 0.7 * 1)
    assert s["b"] == pytest.approx(0.3 * 0.5)
    assert s["d"] == pytest.approx(0.0)


def test_interpolate_mixes_z_scores():
    import numpy as np

    from rag.fusion import interpolate

    fused, ce = [3.0, 2.0, 1.0], [0.0, 10.0, 20.0]
    assert np.allclose(interpolate(fused, ce, 0.0), normalise(np.array(fused), "zscore"))
    assert np.allclose(interpolate(fused, ce, 1.0), normalise(np.array(ce), "zscore"))
    assert np.allclose(interpolate(fused, ce, 0.5), [0.0, 0.0, 0.0]), "equal and opposite evidence cancels"
    assert np.allclose(interpolate([1.0, 1.0], [5.0, 5.0], 0.3), [0.0, 0.0]), "constant scores carry no evidence"
    with pytest.raises(ValueError, match="between 0 and 1"):
        interpolate(fused, ce, 1.5)


def test_rarity_is_the_rarest_terms_share_of_the_largest_idf():
    from rag.fusion import rarity

    assert rarity([], 1000) == 0.0
    assert rarity([np.log(1000)], 1000) == pytest.approx(1.0)
    assert rarity([np.log(10), np.log(1000 / 11)], 1000) == pytest.approx(np.log(1000 / 11) / np.log(1000))
    assert rarity([0.3], 1) == 1.0  # one passage: every term is as rare as it gets


def test_standout_measures_how_far_the_top_score_stands_out():
    from rag.fusion import standout

    assert standout([]) == standout([2.0]) == standout([1.0, 1.0, 1.0]) == 0.0
    assert standout([10.0, 1.0, 1.0, 1.0]) > standout([2.0, 1.9, 1.8, 1.7])
    assert standout([3.0, 1.0]) == pytest.approx(1.0)


def test_adaptive_weights_follow_the_querys_evidence():
    from rag.fusion import COMMON_DENSE_WEIGHT, adaptive_weights

    peaked, flat = [9.0, 1.0, 1.0, 1.0, 1.0], [1.0, 0.99, 0.98, 0.97, 0.96]
    assert adaptive_weights(0.9, peaked, flat, dense_trusted=False) == (1.0, 0.0)  # the embedder does not know the language
    assert adaptive_weights(0.2, peaked, flat) == pytest.approx((1 - COMMON_DENSE_WEIGHT, COMMON_DENSE_WEIGHT))  # common words only
    wb, wd = adaptive_weights(0.9, peaked, flat)  # a rare term: the ranking that stands out leads
    assert wb > wd and wb + wd == pytest.approx(1.0)
    wb, wd = adaptive_weights(0.9, flat, peaked)
    assert wd > wb
    assert adaptive_weights(0.9, [], []) == (0.5, 0.5)
