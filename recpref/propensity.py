"""Exposure propensities theta = P(item shown to user) for unbiased learning and evaluation
(methods.md section 2).

Every estimator returns a *full-length* float64 array: ``(n_items,)`` for item-level
propensities (items never clicked get the ``floor``; an array is never indexed by the ids that
happen to have clicks), or ``(n_users, n_items)`` for user-item propensities.
`check_propensities` is the one gate every consumer (losses, evaluation, CLI) passes them
through: zero, negative, NaN, infinite, above-one or wrongly shaped values are refused with an
error that names the problem.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from recpref.data import Interactions

__all__ = [
    "check_item_or_cell_propensities",
    "check_propensities",
    "clip_propensities",
    "logistic_propensity",
    "naive_bayes_propensity",
    "popularity_propensity",
    "user_item_propensity",
]


def check_propensities(theta: npt.ArrayLike, shape: int | tuple[int, ...], *,
                       name: str = "propensities") -> np.ndarray:
    """Validate propensities against the expected ``shape`` (``n_items`` or ``(n_users, n_items)``)
    and return them as float64. Every value must be finite and in (0, 1]."""
    arr = np.asarray(theta, dtype=np.float64)
    want = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if arr.shape != want:
        raise ValueError(f"{name} have shape {arr.shape}, expected {want} (one value per "
                         f"{'item' if len(want) == 1 else '(user, item) cell'})")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contain {int(np.isnan(arr).sum())} NaN value(s)")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contain infinite value(s)")
    if (arr <= 0).any():
        bad = np.argwhere(arr <= 0)[0]
        raise ValueError(f"{name} must be > 0: {int((arr <= 0).sum())} value(s) are zero or negative "
                         f"(first at index {tuple(int(x) for x in bad)}: {arr[tuple(bad)]}); "
                         "clip them from below (clip_propensities) or set a floor")
    if (arr > 1).any():
        raise ValueError(f"{name} are probabilities and must be <= 1; max is {arr.max()}")
    return arr


def check_item_or_cell_propensities(theta: npt.ArrayLike, n_users: int, n_items: int, *,
                                    name: str = "propensities") -> np.ndarray:
    """`check_propensities` for consumers that take either item-level ``(n_items,)`` or per-cell
    ``(n_users, n_items)`` propensities: a 1-D array is checked as the former, anything else as
    the latter."""
    arr = np.asarray(theta, dtype=np.float64)
    return check_propensities(arr, n_items if arr.ndim == 1 else (n_users, n_items), name=name)


def clip_propensities(theta: npt.ArrayLike, minimum: float) -> np.ndarray:
    """``max(theta, minimum)`` (Rel-MF's clipped estimator, M = ``minimum``), validated."""
    if not 0 < minimum <= 1:
        raise ValueError(f"the clipping threshold must be in (0, 1], got {minimum}")
    arr = np.asarray(theta, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"propensities contain {int(np.isnan(arr).sum())} NaN value(s)")
    return check_propensities(np.maximum(arr, minimum), arr.shape)


def popularity_propensity(train: Interactions, eta: float = 0.5, *, normalize: Literal["max", "users"] = "max",
                          floor: float = 1e-6) -> np.ndarray:
    """Item propensities from click popularity, one per item of ``train``:
    ``theta_i = (n_i / max_k n_k) ** eta`` (Rel-MF, ``normalize="max"``) or
    ``(n_i / n_users) ** eta`` (UBPR's Coat code: the square root of the item's click rate for
    eta 0.5, ``normalize="users"``), where n_i counts the users who clicked item i. Items with
    no click get ``floor``; every value is at least ``floor``."""
    if not eta >= 0 or not np.isfinite(eta):
        raise ValueError(f"eta must be a finite number >= 0, got {eta}")
    if not 0 < floor <= 1:
        raise ValueError(f"floor must be in (0, 1], got {floor}")
    if normalize not in ("max", "users"):
        raise ValueError(f"normalize must be 'max' or 'users', got {normalize!r}")
    counts = np.asarray(train.binarized().item_counts, dtype=np.float64)
    if counts.max(initial=0) == 0:
        raise ValueError("train has no clicks: popularity propensities are undefined")
    base = counts / (counts.max() if normalize == "max" else train.n_users)
    theta = np.where(counts > 0, base ** eta, floor)
    return check_propensities(np.maximum(theta, floor), train.n_items)


def user_item_propensity(values: npt.ArrayLike, train: Interactions, *, name: str = "given propensities") -> np.ndarray:
    """Propensities a dataset ships per (user, item) cell (Coat's ``propensities.ascii``),
    checked against ``train``'s shape."""
    return check_propensities(values, train.shape, name=name)


def naive_bayes_propensity(observed_ratings: npt.ArrayLike, mar_ratings: npt.ArrayLike, *,
                           smoothing: float = 1.0) -> np.ndarray:
    """Schnabel et al.'s naive Bayes exposure model, fitted with a small randomly exposed (MAR)
    sample: ``P(O=1 | Y=r) = P(Y=r | O=1) P(O=1) / P(Y=r)``.

    ``observed_ratings`` is the MNAR matrix (0 = not observed, else the rating), ``mar_ratings``
    the same shape with the randomly exposed ratings (0 = not sampled). P(Y=r | O=1) and P(O=1)
    come from the MNAR matrix, P(Y=r) from the MAR sample (additive ``smoothing`` per level).
    Returns an (n_users, n_items) array: each observed cell gets the propensity of its rating;
    unobserved cells get the marginal P(O=1)."""
    obs = np.asarray(observed_ratings, dtype=np.float64)
    mar = np.asarray(mar_ratings, dtype=np.float64)
    if obs.ndim != 2 or obs.shape != mar.shape:
        raise ValueError(f"observed and MAR rating matrices must have the same 2-D shape, got {obs.shape}, {mar.shape}")
    for what, m in (("observed", obs), ("MAR", mar)):
        if not np.isfinite(m).all():
            raise ValueError(f"the {what} ratings contain NaN or infinite values")
        if (m < 0).any():
            raise ValueError(f"the {what} ratings must be >= 0 (0 = not observed)")
    if smoothing < 0:
        raise ValueError(f"smoothing must be >= 0, got {smoothing}")
    levels = np.unique(np.concatenate([obs[obs > 0], mar[mar > 0]]))
    if not (obs > 0).any() or not (mar > 0).any():
        raise ValueError("both the observed and the MAR matrix need at least one rating")
    p_obs = float((obs > 0).mean())
    n_o = np.array([(obs == r).sum() for r in levels], dtype=np.float64) + smoothing
    n_m = np.array([(mar == r).sum() for r in levels], dtype=np.float64) + smoothing
    p_r_given_o = n_o / n_o.sum()
    p_r = n_m / n_m.sum()
    per_level = np.clip(p_r_given_o * p_obs / p_r, np.finfo(np.float64).tiny, 1.0)
    out = np.full(obs.shape, p_obs)
    for r, p in zip(levels, per_level):
        out[obs == r] = p
    return check_propensities(out, obs.shape, name="naive Bayes propensities")


def logistic_propensity(exposure: Interactions, user_features: npt.ArrayLike, item_features: npt.ArrayLike, *,
                        l2: float = 1e-3, floor: float = 1e-3, max_iter: int = 200) -> np.ndarray:
    """Schnabel et al.'s logistic-regression exposure model: ``P(O_ui = 1) = sigmoid(a . x_u +
    b . x_i + c)`` fitted by L-BFGS on every (user, item) cell, where O marks the cells in
    ``exposure`` (e.g. every rated cell of the MNAR data) and x_u, x_i are feature rows (Coat's
    one-hot user and item attributes). Returns an (n_users, n_items) array clipped to
    ``[floor, 1]``."""
    import torch

    xu = np.asarray(user_features, dtype=np.float64)
    xi = np.asarray(item_features, dtype=np.float64)
    n_u, n_i = exposure.shape
    if xu.ndim != 2 or xu.shape[0] != n_u:
        raise ValueError(f"user_features must have {n_u} rows (one per user), got shape {xu.shape}")
    if xi.ndim != 2 or xi.shape[0] != n_i:
        raise ValueError(f"item_features must have {n_i} rows (one per item), got shape {xi.shape}")
    if not (np.isfinite(xu).all() and np.isfinite(xi).all()):
        raise ValueError("features contain NaN or infinite values")
    if exposure.nnz == 0 or exposure.nnz == n_u * n_i:
        raise ValueError("exposure must mark some but not all cells as shown")
    if l2 < 0 or not 0 < floor <= 1:
        raise ValueError(f"need l2 >= 0 and floor in (0, 1], got {l2}, {floor}")
    target = torch.zeros(n_u, n_i, dtype=torch.float64)
    target[torch.as_tensor(exposure.rows), torch.as_tensor(exposure.indices.astype(np.int64))] = 1.0
    fu, fi = torch.as_tensor(xu), torch.as_tensor(xi)
    a = torch.zeros(fu.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(fi.shape[1], dtype=torch.float64, requires_grad=True)
    rate = exposure.nnz / (n_u * n_i)
    c = torch.tensor(np.log(rate / (1 - rate)), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([a, b, c], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = (fu @ a)[:, None] + (fi @ b)[None, :] + c
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target) + l2 * (a.square().sum()
                                                                                            + b.square().sum())
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        theta = torch.sigmoid((fu @ a)[:, None] + (fi @ b)[None, :] + c).numpy()
    return check_propensities(np.clip(theta, floor, 1.0), (n_u, n_i), name="logistic propensities")
