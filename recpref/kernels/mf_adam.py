"""Fused CPU kernel: minibatch BPR / BPO on matrix factorisation with dense Adam, in numba.

Each optimiser step is what `recpref.modules.PreferenceModule` does with autograd and
``torch.optim.Adam`` on an `MF` encoder (no biases): the mean loss over the batch plus
``reg * l2_regularization(rows, batch_size=B)`` on the batch's embedding rows, its exact
gradient, then one Adam update of *every* parameter row (dense Adam, like torch's and
RecBole's; rows without gradient still move by their momentum). Only the arithmetic moves
into one compiled loop: no autograd graph, no per-op dispatch. The tests check each step
against the autograd + torch.optim.Adam reference.

Index arrays come from the samplers (``users``/``pos`` (S, B), ``neg`` (S, B, K)); this kernel
draws nothing itself.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["mf_adam_steps"]

LOSS_CODES = {"bpr": 0, "bpo": 1}


@njit(cache=True, nogil=True, error_model="numpy")
def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(cache=True, nogil=True, fastmath=True, parallel=True, error_model="numpy")
def _adam(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, lr: float, b1: float, b2: float,
          eps: float, step: int) -> None:
    # float32 arithmetic throughout (as torch's fused CPU Adam) so the loop vectorises
    bc2_sqrt = np.float32(math.sqrt(1.0 - b2 ** step))
    step_size = np.float32(lr / (1.0 - b1 ** step))
    b1f, b2f, epsf = np.float32(b1), np.float32(b2), np.float32(eps)
    c1, c2 = np.float32(1.0 - b1), np.float32(1.0 - b2)
    for r in prange(p.shape[0]):
        for t in range(p.shape[1]):
            gt = g[r, t]
            mt = b1f * m[r, t] + c1 * gt
            vt = b2f * v[r, t] + c2 * gt * gt
            m[r, t] = mt
            v[r, t] = vt
            p[r, t] -= step_size * mt / (np.sqrt(vt) / bc2_sqrt + epsf)


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def mf_adam_steps(user_emb: np.ndarray, item_emb: np.ndarray, m_u: np.ndarray, v_u: np.ndarray,
                  m_i: np.ndarray, v_i: np.ndarray, users: np.ndarray, pos: np.ndarray, neg: np.ndarray,
                  loss_code: int, lr: float, reg: float, b1: float, b2: float, eps: float,
                  first_step: int) -> float:
    """Run ``S = users.shape[0]`` optimiser steps in place; returns the summed step losses
    (main loss + L2 term, as the autograd module reports them).

    ``loss_code`` 0: BPR, mean over pairs of softplus(s_uj - s_ui), K negatives averaged per
    positive; 1: BPO, softplus(-s_ui) + mean_K softplus(s_uj). ``first_step`` is Adam's
    step count before this call (bias correction)."""
    n_steps, batch = users.shape
    n_neg = neg.shape[2]
    dim = user_emb.shape[1]
    g_u = np.zeros_like(user_emb)
    g_i = np.zeros_like(item_emb)
    inv_b = 1.0 / batch
    inv_bk = inv_b / n_neg
    reg_b = np.float32(reg * inv_b)
    total = 0.0
    for s in range(n_steps):
        g_u[:] = 0.0
        g_i[:] = 0.0
        step_loss = 0.0
        sq = 0.0
        for b in range(batch):
            u = users[s, b]
            i = pos[s, b]
            eu = user_emb[u]
            ei = item_emb[i]
            s_pos = np.float32(0.0)
            for t in range(dim):
                s_pos += eu[t] * ei[t]
            c_pos = 0.0  # d loss / d s_ui
            if loss_code == 1:
                step_loss += _softplus(-s_pos) * inv_b
                c_pos = -inv_b / (1.0 + math.exp(s_pos))
            for k in range(n_neg):
                j = neg[s, b, k]
                ej = item_emb[j]
                s_neg = np.float32(0.0)
                for t in range(dim):
                    s_neg += eu[t] * ej[t]
                if loss_code == 0:
                    x = s_neg - s_pos
                    step_loss += _softplus(x) * inv_bk
                    c = inv_bk / (1.0 + math.exp(-x))  # sigmoid(x) / (B K) = d loss / d s_uj
                    c_pos -= c
                else:
                    step_loss += _softplus(s_neg) * inv_bk
                    c = inv_bk / (1.0 + math.exp(-s_neg))
                gu = g_u[u]
                gj = g_i[j]
                cf = np.float32(c)
                for t in range(dim):
                    gu[t] += cf * ej[t]
                    gj[t] += cf * eu[t]
                if reg > 0.0:
                    for t in range(dim):
                        gj[t] += reg_b * ej[t]
                        sq += ej[t] * ej[t]
            gu = g_u[u]
            gi = g_i[i]
            cpf = np.float32(c_pos)
            for t in range(dim):
                gu[t] += cpf * ei[t]
                gi[t] += cpf * eu[t]
            if reg > 0.0:
                for t in range(dim):
                    gu[t] += reg_b * eu[t]
                    gi[t] += reg_b * ei[t]
                    sq += eu[t] * eu[t] + ei[t] * ei[t]
        total += step_loss + reg * 0.5 * sq * inv_b
        step = first_step + s + 1
        _adam(user_emb, g_u, m_u, v_u, lr, b1, b2, eps, step)
        _adam(item_emb, g_i, m_i, v_i, lr, b1, b2, eps, step)
    return total
