"""Propensity estimators: full-length arrays, the published formulas, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from recpref.data import Interactions
from recpref.propensity import (
    check_propensities,
    clip_propensities,
    naive_bayes_propensity,
    popularity_propensity,
    user_item_propensity,
)


def _clicks() -> Interactions:
    # item 1 and item 4 have no click: a count array from np.unique would misalign items 2, 3
    users = [0, 1, 2, 3, 0, 1, 0]
    items = [0, 0, 0, 0, 2, 2, 3]
    return Interactions.from_indices(users, items, n_users=4, n_items=5)


def test_popularity_propensity_is_full_length_and_aligned() -> None:
    theta = popularity_propensity(_clicks(), eta=0.5, floor=1e-3)
    np.testing.assert_allclose(theta, [1.0, 1e-3, np.sqrt(0.5), np.sqrt(0.25), 1e-3])
    by_users = popularity_propensity(_clicks(), eta=0.5, normalize="users")
    np.testing.assert_allclose(by_users[[0, 2, 3]], np.sqrt([4 / 4, 2 / 4, 1 / 4]))
    np.testing.assert_allclose(popularity_propensity(_clicks(), eta=0.0)[[0, 2, 3]], 1.0)


def test_popularity_propensity_bad_arguments() -> None:
    with pytest.raises(ValueError, match="eta must be"):
        popularity_propensity(_clicks(), eta=-1)
    with pytest.raises(ValueError, match="floor must be"):
        popularity_propensity(_clicks(), floor=0)
    with pytest.raises(ValueError, match="normalize must be"):
        popularity_propensity(_clicks(), normalize="sum")  # type: ignore[arg-type]


@pytest.mark.parametrize(("values", "match"), [
    (np.array([0.5, 0.0, 0.2]), "zero or negative"),
    (np.array([0.5, -0.1, 0.2]), "zero or negative"),
    (np.array([0.5, np.nan, 0.2]), "NaN"),
    (np.array([0.5, np.inf, 0.2]), "infinite"),
    (np.array([0.5, 1.5, 0.2]), "must be <= 1"),
    (np.array([0.5, 0.2]), r"shape \(2,\), expected \(3,\)"),
])
def test_bad_propensities_are_refused_with_a_reason(values: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_propensities(values, 3)


def test_clip_and_user_item_propensities() -> None:
    np.testing.assert_allclose(clip_propensities([0.001, 0.5, 0.0], 0.01), [0.01, 0.5, 0.01])
    with pytest.raises(ValueError, match="clipping threshold"):
        clip_propensities([0.5], 0.0)
    with pytest.raises(ValueError, match="NaN"):
        clip_propensities([np.nan], 0.1)
    train = _clicks()
    given = np.full(train.shape, 0.3)
    assert user_item_propensity(given, train).shape == (4, 5)
    with pytest.raises(ValueError, match="expected \\(4, 5\\)"):
        user_item_propensity(np.full((5, 4), 0.3), train)


def test_naive_bayes_propensity_matches_bayes_rule() -> None:
    rng = np.random.default_rng(0)
    n_u, n_i = 200, 50
    true = rng.integers(1, 6, size=(n_u, n_i))
    p_by_rating = np.array([0.02, 0.03, 0.05, 0.2, 0.4])  # high ratings observed more (MNAR)
    observed = np.where(rng.random((n_u, n_i)) < p_by_rating[true - 1], true, 0)
    mar = np.where(rng.random((n_u, n_i)) < 0.3, true, 0)  # random exposure
    theta = naive_bayes_propensity(observed, mar, smoothing=0.0)
    for r in range(1, 6):
        cell = theta[observed == r]
        assert np.allclose(cell, cell[0])
        assert cell[0] == pytest.approx(p_by_rating[r - 1], rel=0.25)
    assert np.allclose(theta[observed == 0], (observed > 0).mean())
    with pytest.raises(ValueError, match="same 2-D shape"):
        naive_bayes_propensity(observed, mar[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        naive_bayes_propensity(np.where(observed > 0, np.nan, 0), mar)


def test_logistic_propensity_recovers_a_feature_driven_exposure() -> None:
    from recpref.propensity import logistic_propensity

    rng = np.random.default_rng(0)
    n_u, n_i = 120, 80
    xu = np.eye(3)[rng.integers(0, 3, n_u)]  # one-hot user group
    xi = np.eye(4)[rng.integers(0, 4, n_i)]  # one-hot item group
    true = 1 / (1 + np.exp(-((xu @ np.array([-2.0, -1.0, 0.5]))[:, None] + (xi @ np.array([-1.5, 0.0, 0.5, 1.0]))[None, :])))
    shown = rng.random((n_u, n_i)) < true
    u, i = np.nonzero(shown)
    exposure = Interactions.from_indices(u, i, n_users=n_u, n_items=n_i)
    theta = logistic_propensity(exposure, xu, xi, l2=0.0)
    assert theta.shape == (n_u, n_i)
    assert np.abs(theta - true).mean() < 0.03
    with pytest.raises(ValueError, match="user_features must have 120 rows"):
        logistic_propensity(exposure, xu[:5], xi)
    with pytest.raises(ValueError, match="NaN or infinite"):
        logistic_propensity(exposure, np.full_like(xu, np.nan), xi)


def test_item_or_cell_propensities() -> None:
    from recpref.propensity import check_item_or_cell_propensities

    assert check_item_or_cell_propensities(np.full(4, 0.5), 3, 4).shape == (4,)
    assert check_item_or_cell_propensities(np.full((3, 4), 0.5), 3, 4).shape == (3, 4)
    with pytest.raises(ValueError, match=r"expected \(3, 4\)"):
        check_item_or_cell_propensities(np.full((4, 3), 0.5), 3, 4)
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        check_item_or_cell_propensities(np.full(3, 0.5), 3, 4)
