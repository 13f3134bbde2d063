"""rag.tune.evidence: the conditional logit behind rag.evidence's weights (pure)."""

import numpy as np
import pytest

from rag.tune.evidence import cross_validated, fit, loss, top1


def _groups(n=40, seed=0):
    """Feature 0 marks the answer; feature 1 is noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = np.column_stack([np.zeros(5), rng.normal(size=5)])
        j = rng.integers(5)
        x[j, 0] = 1.0
        out.append((x, (np.arange(5) == j).astype(float)))
    return out


def test_the_fit_finds_the_feature_that_marks_the_answer():
    groups = _groups()
    w = fit(groups, l2=0.01)
    assert w[0] > 1.0 > abs(w[1]) and top1(w, groups) == 1.0
    assert cross_validated(groups, folds=4, l2=0.01) == 1.0
    assert cross_validated(groups, folds=4, l2=0.01, columns=[1]) < 0.6, "noise alone does not find it"


def test_the_gradient_is_the_loss_s_slope():
    groups, w = _groups(6, seed=1), np.array([0.3, -0.2])
    f, g = loss(w, groups, 0.5)
    eps = 1e-6
    numeric = [(loss(w + eps * e, groups, 0.5)[0] - loss(w - eps * e, groups, 0.5)[0]) / (2 * eps) for e in np.eye(2)]
    assert np.allclose(g, numeric, atol=1e-4) and f > 0


def test_a_question_without_its_answer_teaches_nothing():
    groups = _groups(10)
    empty = (np.ones((3, 2)), np.zeros(3))
    assert loss(np.array([1.0, 0.0]), groups + [empty], 0.0)[0] == loss(np.array([1.0, 0.0]), groups, 0.0)[0]
    assert top1(np.zeros(2), [empty]) == 0.0
    with pytest.raises(ValueError):
        fit([])
