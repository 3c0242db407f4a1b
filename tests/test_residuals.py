"""The residual-on-rubric-items fit (models.residuals) recovers which items a scorer does not see."""

from __future__ import annotations

import numpy as np
import pytest

from models.residuals import item_terms


def test_item_terms_recover_unseen_and_seen_items():
    rng = np.random.default_rng(3)
    n = 2000
    losses = rng.exponential([1.0, 2.0, 0.5, 1.5], size=(n, 4))
    # a scorer that ignores item 1 entirely, charges item 3 half, and sees items 0 and 2
    residual = 1.0 * losses[:, 1] + 0.5 * losses[:, 3] + 0.3 + rng.normal(0, 0.2, n)
    fit = item_terms(losses, residual)
    np.testing.assert_allclose(fit["b"], [0.0, 1.0, 0.0, 0.5], atol=0.03)
    assert fit["share"].argmax() == 1 and fit["share"][0] < 0.01 and fit["share"][2] < 0.01
    assert 0.9 < fit["explained"] <= 1.0
    assert fit["corr"][1] > 0.8 and abs(fit["corr"][0]) < 0.1
    # a constant item has no correlation to report
    with_const = np.column_stack([losses, np.ones(n)])
    assert np.isnan(item_terms(with_const, residual)["corr"][4])


def test_item_terms_refuse_unusable_input():
    with pytest.raises(ValueError, match="cannot fit"):
        item_terms(np.zeros((3, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="must be"):
        item_terms(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="constant"):
        item_terms(np.random.default_rng(0).random((10, 2)), np.ones(10))
