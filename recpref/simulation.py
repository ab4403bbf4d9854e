"""Semi-synthetic MNAR click data with known truth (methods.md section 2).

True relevance gamma comes from a low-rank model or from a real rating matrix (UBPR's graded
map); exposure theta from a popularity-skewed propensity; clicks are ``Y = O * R`` with
``O ~ Bernoulli(theta)`` and ``R ~ Bernoulli(gamma)`` drawn independently. Because gamma is
known, the ideal loss of any scores can be computed exactly and compared with what an
estimator sees from one draw of clicks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from recpref.data import Interactions
from recpref.losses.unbiased import LocalLoss, local_losses
from recpref.propensity import check_item_or_cell_propensities

__all__ = ["ClickDraw", "SemiSynthetic", "complete_ratings", "graded_relevance", "low_rank_relevance",
           "popularity_exposure"]


def graded_relevance(ratings: npt.ArrayLike, *, eps: float = 0.1, r_max: int = 5,
                     unrated: float | None = None) -> np.ndarray:
    """UBPR's map from a rating r in 1..r_max to a relevance probability,
    ``eps + (1 - eps) (2^(r-1) - 1) / (2^(r_max-1) - 1)``; 0 marks an unrated cell, which gets
    ``unrated`` (default ``eps``, the relevance of the lowest rating)."""
    r = np.asarray(ratings, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"ratings must be a 2-D (users x items) matrix, got shape {r.shape}")
    if np.isnan(r).any() or (r < 0).any() or (r > r_max).any():
        raise ValueError(f"ratings must be in [0, {r_max}] (0 = unrated) and not NaN")
    if not 0 <= eps <= 1:
        raise ValueError(f"eps must be in [0, 1], got {eps}")
    fill = eps if unrated is None else unrated
    if not 0 <= fill <= 1:
        raise ValueError(f"unrated relevance must be in [0, 1], got {fill}")
    graded = eps + (1 - eps) * (2.0 ** (r - 1) - 1) / (2.0 ** (r_max - 1) - 1)
    return np.where(r > 0, graded, fill)


def complete_ratings(ratings: npt.ArrayLike, *, dim: int = 10, reg: float = 5.0, iterations: int = 15,
                     seed: int = 0, r_min: float = 1.0, r_max: float = 5.0) -> np.ndarray:
    """Fill a rating matrix (0 = unrated) with an explicit MF fitted by alternating least
    squares on the observed ratings (the semi-synthetic recipe of Saito et al.: complete the
    ratings, then derive relevance from them). Observed ratings are kept; predictions are
    rounded and clipped to [r_min, r_max]."""
    r = np.asarray(ratings, dtype=np.float64)
    if r.ndim != 2 or not np.isfinite(r).all() or (r < 0).any():
        raise ValueError("ratings must be a finite 2-D matrix with 0 for unrated cells")
    if dim < 1 or reg <= 0 or iterations < 1:
        raise ValueError(f"need dim >= 1, reg > 0, iterations >= 1; got {dim}, {reg}, {iterations}")
    mask = r > 0
    if not mask.any():
        raise ValueError("no observed rating to complete from")
    mu = r[mask].mean()
    rng = np.random.default_rng(seed)
    p = 0.1 * rng.standard_normal((r.shape[0], dim))
    q = 0.1 * rng.standard_normal((r.shape[1], dim))
    eye = reg * np.eye(dim)
    for _ in range(iterations):
        for rows, fixed, target, m in ((p, q, r, mask), (q, p, r.T, mask.T)):
            for a in range(rows.shape[0]):
                obs = m[a]
                if obs.any():
                    f = fixed[obs]
                    rows[a] = np.linalg.solve(f.T @ f + eye, f.T @ (target[a, obs] - mu))
                else:
                    rows[a] = 0.0
    filled = np.clip(np.rint(mu + p @ q.T), r_min, r_max)
    return np.where(mask, r, filled)


def low_rank_relevance(n_users: int, n_items: int, *, dim: int = 8, scale: float = 2.0, offset: float = -2.0,
                       seed: int = 0) -> np.ndarray:
    """``gamma = sigmoid(scale * u . v / sqrt(dim) + offset)`` with Gaussian factors: a smooth,
    low-rank relevance with mean around ``sigmoid(offset)``."""
    if min(n_users, n_items, dim) < 1:
        raise ValueError(f"need n_users, n_items, dim >= 1, got {n_users}, {n_items}, {dim}")
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n_users, dim))
    v = rng.standard_normal((n_items, dim))
    logits = scale * (u @ v.T) / np.sqrt(dim) + offset
    out: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
    return out


def popularity_exposure(popularity: npt.ArrayLike, *, power: float = 1.0, floor: float = 0.01,
                        ceiling: float = 1.0) -> np.ndarray:
    """Item exposure ``clip((p_i / max p) ** power, floor, ceiling)``: popular items are shown
    far more often (``power`` sets the skew)."""
    p = np.asarray(popularity, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or not np.isfinite(p).all() or (p < 0).any() or p.max() == 0:
        raise ValueError("popularity must be a non-empty 1-D array of finite values >= 0, not all zero")
    if not 0 < floor <= ceiling <= 1:
        raise ValueError(f"need 0 < floor <= ceiling <= 1, got {floor}, {ceiling}")
    return np.clip((p / p.max()) ** power, floor, ceiling)


@dataclass(frozen=True)
class ClickDraw:
    """One simulated draw: exposure O, relevance R and clicks Y = O * R, all (n_users, n_items) bool."""

    exposed: np.ndarray
    relevant: np.ndarray
    clicks: np.ndarray

    def to_interactions(self) -> Interactions:
        """The clicks as implicit-feedback training data."""
        u, i = np.nonzero(self.clicks)
        return Interactions.from_indices(u, i, n_users=self.clicks.shape[0], n_items=self.clicks.shape[1])


@dataclass(frozen=True)
class SemiSynthetic:
    """Known relevance ``gamma`` (n_users, n_items) and exposure ``theta`` ((n_items,) or
    (n_users, n_items)); `draw` samples clicks, `ideal_loss` is the loss every unbiased
    estimator targets."""

    gamma: np.ndarray
    theta: np.ndarray

    def __post_init__(self) -> None:
        g = np.asarray(self.gamma, dtype=np.float64)
        if g.ndim != 2 or np.isnan(g).any() or (g < 0).any() or (g > 1).any():
            raise ValueError("gamma must be a 2-D matrix of probabilities in [0, 1]")
        object.__setattr__(self, "gamma", g)
        object.__setattr__(self, "theta", check_item_or_cell_propensities(self.theta, *g.shape,
                                                                          name="exposure propensities"))

    @property
    def shape(self) -> tuple[int, int]:
        return self.gamma.shape  # type: ignore[return-value]

    def theta_matrix(self) -> np.ndarray:
        return np.broadcast_to(self.theta, self.shape)

    def draw(self, seed: int) -> ClickDraw:
        rng = np.random.default_rng(seed)
        exposed = rng.random(self.shape) < self.theta_matrix()
        relevant = rng.random(self.shape) < self.gamma
        return ClickDraw(exposed, relevant, exposed & relevant)

    def ideal_loss(self, scores: torch.Tensor, local: LocalLoss = "log") -> float:
        """``mean over all cells [gamma delta1(s) + (1 - gamma) delta0(s)]``."""
        if tuple(scores.shape) != self.shape:
            raise ValueError(f"scores have shape {tuple(scores.shape)}, expected {self.shape}")
        d1, d0 = local_losses(scores.double(), local)
        g = torch.as_tensor(self.gamma)
        return float((g * d1 + (1 - g) * d0).mean())
