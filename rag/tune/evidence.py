"""Fitting rag.evidence's sentence scorer: a conditional logit over each question's
candidate sentences (McFadden 1974), the probability of a sentence being
softmax(features · w) among its question's candidates (rag.evidence.shares), trained to put the mass on the
sentences that hold a gold answer (pure; scipy's L-BFGS).

A question is a group: (features, labels) with one row per candidate and a label of 1
where the sentence holds a gold answer. A group without such a sentence teaches
nothing (its answer was not retrieved) and is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..evidence import shares

Group = tuple[np.ndarray, np.ndarray]  # (candidates × features, 0/1 labels)


def loss(w: np.ndarray, groups: Sequence[Group], l2: float) -> tuple[float, np.ndarray]:
    """Negative log-likelihood of the labelled sentences (the sum of their
    probabilities, per group) plus `l2`·|w|², and its gradient."""
    total, grad = 0.0, np.zeros_like(w)
    for x, y in groups:
        pos = np.asarray(y) > 0
        if not pos.any():
            continue
        p = shares(x @ w)
        hit = p[pos].sum()
        total -= np.log(hit + 1e-12)
        q = np.where(pos, p / hit, 0.0)
        grad -= x.T @ (q - p)
    return total + l2 * float(w @ w), grad + 2 * l2 * w


def fit(groups: Sequence[Group], l2: float = 1.0) -> np.ndarray:
    """The weights that minimise `loss` (zeros for no usable group)."""
    from scipy.optimize import minimize

    if not groups:
        raise ValueError("fit needs at least one question with candidates")
    w0 = np.zeros(groups[0][0].shape[1])
    return minimize(loss, w0, args=(groups, l2), jac=True, method="L-BFGS-B").x


def top1(w: np.ndarray, groups: Sequence[Group]) -> float:
    """The share of groups whose best-scored candidate is labelled 1 (0 for none);
    a tie goes to the first candidate, as rag.evidence.ranked does."""
    return float(np.mean([y[int(np.argmax(x @ w))] > 0 if len(y) else False for x, y in groups])) if groups else 0.0


def cross_validated(groups: Sequence[Group], folds: int = 5, l2: float = 1.0, columns: Sequence[int] | None = None) -> float:
    """Mean top1 on each of `folds` interleaved folds (group i in fold i % folds) of a
    fit on the others, with only `columns` of the features (None: all)."""
    cols = list(range(groups[0][0].shape[1])) if columns is None else list(columns)
    picked = [(x[:, cols], y) for x, y in groups]
    scores = []
    for k in range(folds):
        train = [g for i, g in enumerate(picked) if i % folds != k]
        test = [g for i, g in enumerate(picked) if i % folds == k]
        scores.append(top1(fit(train, l2), test))
    return float(np.mean(scores))
