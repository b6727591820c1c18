"""Exact incremental dataset statistics for CONSERVAttack (seed 004, appendix B).

``IncrementalStats`` holds, for a working copy of a dataset ``x`` (n, d) in float64:

* per-feature histograms (``num_bins`` equal bins over the *clean* set's per-feature range, numpy's bin
  edges exactly) of the clean and of the current values, and the Jensen-Shannon distance between them;
* the running means and the co-moment matrix ``M = sum_i (x_i - mu)(x_i - mu)^T`` (covariance times n - 1),
  hence the Pearson matrix of the current set and
  dFN = ||C_cur - C_clean||_F / ||C_clean||_F over the non-constant features.

A single-entry change moves one histogram count (O(1)) and updates the mean, variance and covariances in
O(d) (``apply_single``). Appendix B.2 as printed is *not* exact: with deviations from the old and the new
mean it divides by n - 1, which underestimates every covariance change by a factor (n - 1) / n (for n = 1000
the incremental Pearson matrix drifts by ~1e-6 after a thousand changes). We use the exact form
(n - 1) dcov_jk = Delta * (x_ik - mu_k) for k != j and (n - 1) dvar_j = Delta (x_new - mu_new + x_old - mu_old),
which keeps the structure (mean, then variance, then covariances) and agrees with a from-scratch
recomputation to ~1e-13.

``score`` evaluates many candidates at once (rows x features x candidates, one changed entry each) against
the same statistics: the JSD of the changed feature after the change, O(1) per candidate, and dFN after the
change, O(1) per candidate after one (rows, d) x (d, d) product per block of rows (the paper's O(d) per
candidate, with the k-sums shared by all candidates of a row). The sums are written in terms of the
*changes* of the correlations, so no O(1) numbers cancel and a candidate's score matches a full
recomputation to ~1e-12 (``benchmarks/conservattack.py`` measures it).

Constant features (zero variance in the clean set) have no Pearson correlation: they are left out of the
correlation matrix and dFN (``constant``) and must not be moved; their JSD is 0 as long as they do not move.
JSD uses the natural logarithm (as scipy's ``jensenshannon``), so it lies in [0, sqrt(ln 2)].
"""

from __future__ import annotations

import numpy as np
import torch


def bin_edges(x: np.ndarray, num_bins: int) -> np.ndarray:
    """(d, num_bins + 1) float64 edges per feature, exactly those ``np.histogram(x[:, j], num_bins)`` uses."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(axis=0), x.max(axis=0)
    same = lo == hi
    lo, hi = np.where(same, lo - 0.5, lo), np.where(same, hi + 0.5, hi)  # numpy's rule for a constant column
    return np.stack([np.linspace(a, b, num_bins + 1) for a, b in zip(lo, hi, strict=True)])


def bin_index(values: torch.Tensor, edges: torch.Tensor, feature: torch.Tensor | None = None) -> torch.Tensor:
    """Bin of each value, numpy's convention: [e_k, e_k+1), the last bin closed; outside values clamp.

    ``values`` (n, d) or (n, d, C) with feature j on axis 1, or any shape with ``feature`` (same shape)
    naming the feature of each value. A first guess from the bin width is corrected against the actual
    edges, as ``np.histogram`` does, so boundary values land in the same bin as there.
    """
    num_bins = edges.shape[1] - 1
    if feature is not None:
        lo, hi = edges[:, 0][feature], edges[:, -1][feature]
        guess = torch.floor((values - lo) / (hi - lo) * num_bins).clamp_(0, num_bins - 1).long()
        flat, base = edges.reshape(-1), feature * (num_bins + 1)
        guess = (guess - (values < flat[base + guess]).long()).clamp_(0, num_bins - 1)
        return guess + ((values >= flat[base + guess + 1]) & (guess != num_bins - 1)).long()
    v = values if values.ndim == 3 else values[:, :, None]
    lo, hi = edges[:, :1], edges[:, -1:]  # (d, 1), broadcast over (n, d, C)
    guess = torch.floor((v - lo) * (num_bins / (hi - lo))).clamp_(0, num_bins - 1).long()
    table = edges[None].expand(len(v), -1, -1)
    guess = (guess - (v < torch.gather(table, 2, guess)).long()).clamp_(0, num_bins - 1)
    guess = guess + ((v >= torch.gather(table, 2, guess + 1)) & (guess != num_bins - 1)).long()
    return guess if values.ndim == 3 else guess[:, :, 0]


def histograms(x: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(d, num_bins) float64 counts of the columns of x (n, d)."""
    d, num_bins = edges.shape[0], edges.shape[1] - 1
    idx = bin_index(x, edges) + torch.arange(d, device=x.device) * num_bins
    return torch.bincount(idx.reshape(-1), minlength=d * num_bins).reshape(d, num_bins).to(torch.float64)


def _js_terms(p_count: torch.Tensor, q_count: torch.Tensor, n: int) -> torch.Tensor:
    """Per-bin p ln(2p / (p + q)) + q ln(2q / (p + q)) from counts (0 ln 0 = 0); sums to KL(p||m) + KL(q||m)."""
    p, q = p_count / n, q_count / n
    s = p + q
    safe = torch.where(s > 0, s, torch.ones_like(s))
    tp = torch.where(p > 0, p * torch.log(2 * p / safe), torch.zeros_like(p))
    tq = torch.where(q > 0, q * torch.log(2 * q / safe), torch.zeros_like(q))
    return tp + tq


def js_distance(clean: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon distance per feature between two (d, num_bins) count histograms of the same n events."""
    n = round(float(clean[0].sum()))
    return torch.sqrt((_js_terms(clean, current, n).sum(dim=-1) / 2).clamp(min=0))


def pearson(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Pearson matrix, constant mask) of x (n, d) in float64; rows/cols of constant features are 0."""
    xc = x - x.mean(dim=0)
    m = xc.T @ xc
    var = torch.diagonal(m)
    constant = var <= 0
    s = torch.where(constant, torch.zeros_like(var), 1 / torch.sqrt(torch.where(constant, torch.ones_like(var), var)))
    return m * s[:, None] * s[None, :], constant


def frobenius_change(c: torch.Tensor, c_clean: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """dFN = ||C - C_clean||_F / ||C_clean||_F over the features in ``keep``."""
    k = keep.to(c.dtype)
    w = k[:, None] * k[None, :]
    return torch.sqrt((((c - c_clean) * w) ** 2).sum()) / torch.sqrt(((c_clean * w) ** 2).sum())


class IncrementalStats:
    """Histograms, JSD, means, co-moments, Pearson and dFN of a working copy of ``x_clean`` (float64).

    ``self.x`` is the current set; change it only through ``apply_single`` or ``apply`` so the statistics
    stay exact. ``jsd`` (d,), ``dfn`` and ``pearson`` always describe ``self.x``.
    """

    def __init__(self, x_clean: torch.Tensor, num_bins: int) -> None:
        if x_clean.ndim != 2 or len(x_clean) < 2:
            raise ValueError(f"statistics need at least 2 events of shape (n, d), got {tuple(x_clean.shape)}")
        self.x = x_clean.detach().to(torch.float64).clone()
        self.n, self.d = self.x.shape
        self.num_bins = num_bins
        self.edges = torch.as_tensor(bin_edges(self.x.cpu().numpy(), num_bins), device=self.x.device)
        self.bins = bin_index(self.x, self.edges)  # (n, d) bin of each current value
        self.clean_counts = histograms(self.x, self.edges)
        self.counts = self.clean_counts.clone()
        self.mean = self.x.mean(dim=0)
        xc = self.x - self.mean
        self.comoment = xc.T @ xc
        self.c_clean, self.constant = pearson(self.x)
        self.keep = ~self.constant
        k = self.keep.to(torch.float64)
        self._keep2 = k[:, None] * k[None, :]
        self.c_clean = self.c_clean * self._keep2
        self.clean_norm = float(torch.sqrt((self.c_clean**2).sum()))
        if self.clean_norm == 0:
            raise ValueError("every feature is constant: the Pearson correlation is undefined")
        self.js_sum = torch.zeros(self.d, dtype=torch.float64, device=self.x.device)
        self.leave_gain = torch.zeros_like(self.counts)
        self.enter_gain = torch.zeros_like(self.counts)
        self._refresh_jsd(torch.arange(self.d, device=self.x.device))
        self._refresh_correlation()

    # ---- derived quantities, recomputed exactly from counts / co-moments (O(d K) and O(d^2)) ----
    def _refresh_jsd(self, features: torch.Tensor) -> None:
        """Per-feature JS sums, and per bin the exact change of that sum when one count leaves or enters it."""
        p, q = self.clean_counts[features], self.counts[features]
        now, leave, enter = _js_terms(p[None], torch.stack((q, q - 1, q + 1)), self.n)  # one pass for all three
        self.js_sum[features] = now.sum(dim=-1)
        self.leave_gain[features] = torch.where(q > 0, leave - now, torch.zeros_like(q))
        self.enter_gain[features] = enter - now

    def _refresh_correlation(self) -> None:
        var = torch.diagonal(self.comoment)
        self.inv_sd = torch.where(self.keep, 1 / torch.sqrt(var.clamp(min=1e-300)), torch.zeros_like(var))
        self.pearson = self.comoment * self.inv_sd[:, None] * self.inv_sd[None, :]
        diff = (self.pearson - self.c_clean) * self._keep2
        diff.fill_diagonal_(0.0)
        self.diff = diff
        self.f2 = float((diff**2).sum())

    @property
    def jsd(self) -> torch.Tensor:
        """(d,) Jensen-Shannon distance, clean vs current histogram, per feature."""
        return torch.sqrt((self.js_sum / 2).clamp(min=0))

    @property
    def mean_jsd(self) -> float:
        return float(self.jsd.mean())

    @property
    def dfn(self) -> float:
        return float(np.sqrt(max(self.f2, 0.0)) / self.clean_norm)

    # ---- updates ----
    def apply_single(self, i: int, j: int, value: float) -> None:
        """x[i, j] <- value with the O(1) histogram move and the exact O(d) moment updates."""
        old = float(self.x[i, j])
        delta = value - old
        if delta == 0:
            return
        b_old, b_new = (int(v) for v in bin_index(torch.tensor([old, value], dtype=torch.float64,
                                                                device=self.x.device), self.edges,
                                                   torch.tensor([j, j], device=self.x.device)))
        self.counts[j, b_old] -= 1
        self.counts[j, b_new] += 1
        self.bins[i, j] = b_new
        mu_old = self.mean[j].clone()
        mu_new = mu_old + delta / self.n
        dev = self.x[i] - self.mean  # x_ik - mu_k, unchanged for k != j
        row = delta * dev
        row[j] = delta * ((value - mu_new) + (old - mu_old))
        self.comoment[j, :] += row
        self.comoment[:, j] += row
        self.comoment[j, j] -= row[j]  # added twice above
        self.mean[j] = mu_new
        self.x[i, j] = value
        self._refresh_jsd(torch.tensor([j], device=self.x.device))
        self._refresh_correlation()

    def apply(self, rows: torch.Tensor, new_rows: torch.Tensor) -> None:
        """Replace whole rows at once (distinct indices), exactly: x[rows] <- new_rows.

        With y = x - mu_old: M_new = M + sum_r (y'_r y'_r^T - y_r y_r^T) - n dmu dmu^T, exact for any
        number of changed rows and entries; the histograms move one count per changed entry.
        """
        if len(rows) == 0:
            return
        old_rows = self.x[rows]
        y_old = old_rows - self.mean
        y_new = new_rows - self.mean
        dmu = (new_rows - old_rows).sum(dim=0) / self.n
        self.comoment += y_new.T @ y_new - y_old.T @ y_old - self.n * torch.outer(dmu, dmu)
        self.mean += dmu
        changed = new_rows != old_rows
        feat = torch.arange(self.d, device=self.x.device).expand_as(old_rows)[changed]
        bins = self.bins[rows]
        new_bins = bin_index(new_rows[changed], self.edges, feat)
        flat = self.counts.view(-1)
        flat.index_add_(0, feat * self.num_bins + bins[changed], torch.full((len(feat),), -1.0,
                                                                            dtype=torch.float64, device=self.x.device))
        flat.index_add_(0, feat * self.num_bins + new_bins, torch.ones(len(feat), dtype=torch.float64,
                                                                        device=self.x.device))
        bins[changed] = new_bins
        self.bins[rows] = bins
        self.x[rows] = new_rows
        self._refresh_jsd(torch.unique(feat))
        self._refresh_correlation()

    # ---- candidate scoring ----
    def score(self, rows: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """JSD of the changed feature and dFN after each single-entry candidate, against the current stats.

        ``rows`` (B,) indices into ``self.x``; ``values`` (B, d, C): candidate c for feature j of row b sets
        x[rows[b], j] = values[b, j, c]. Returns two (B, d, C) float64 tensors. Candidates on constant
        features get +inf.
        """
        n = self.n
        xr = self.x[rows]  # (B, d)
        v = values.to(torch.float64)

        # JSD: one count leaves bin a and enters bin b of feature j (two table look-ups per candidate)
        a = self.bins[rows][:, :, None]  # (B, d, 1)
        b = bin_index(v, self.edges)  # (B, d, C)
        leave = torch.gather(self.leave_gain[None].expand(len(xr), -1, -1), 2, a)
        jsd = torch.gather(self.enter_gain[None].expand(len(xr), -1, -1), 2, b).add_(leave)
        jsd.masked_fill_(a == b, 0.0).add_(self.js_sum[None, :, None]).mul_(0.5).clamp_(min=0).sqrt_()

        # dFN: row and column j of the Pearson matrix change by delta_k = u a_jk + w b_k (k != j). Per (row, j)
        # sums first (one (B, d) x (d, d) product each), then a few fused operations per candidate.
        s = self.inv_sd  # 0 for constant features
        dev = xr - self.mean
        e = dev * s  # b_k = s_k (x_k - mu_k), (B, d)
        a_mat = self.comoment * s[None, :] * self.keep[:, None]  # a_jk = s_k M_jk
        a_mat.fill_diagonal_(0.0)
        a2 = (a_mat**2).sum(dim=1)[None, :, None]  # (1, d, 1): sum_k a_jk^2
        da2 = 2 * (self.diff * a_mat).sum(dim=1)[None, :, None]  # 2 sum_k D_jk a_jk
        ab2 = (2 * (e @ a_mat.T))[:, :, None]  # (B, d, 1): 2 sum_k a_jk b_k
        bb = ((e**2).sum(dim=1, keepdim=True) - e**2)[:, :, None]  # sum_{k != j} b_k^2
        db2 = (2 * (e @ self.diff.T))[:, :, None]

        m_jj = torch.diagonal(self.comoment)[None, :, None]
        sq_old = torch.sqrt(m_jj)
        delta = v - xr[:, :, None]
        # exact change of the co-moment M_jj: delta (x_new - mu_new + x_old - mu_old)
        dm = torch.addcmul(2 * dev[:, :, None], delta, torch.tensor((n - 1) / n, dtype=v.dtype, device=v.device))
        dm.mul_(delta)
        sq_new = (dm + m_jj).clamp_(min=1e-300).sqrt_()
        t = sq_new.reciprocal()
        w = t * delta
        u = (dm.mul_(t).mul_(-s[None, :, None])).div_(sq_new.add_(sq_old))  # t - t0 without cancellation
        # sum_k (D_jk + d_k)^2 - D_jk^2 = u (2 DA + u A + 2 w AB) + w (2 DB + w BB)
        row = torch.addcmul(da2, u, a2).addcmul_(w, ab2).mul_(u)
        row.add_(torch.addcmul(db2, w, bb).mul_(w))
        dfn = row.mul_(2).add_(self.f2).clamp_(min=0).sqrt_().div_(self.clean_norm)
        if bool(self.constant.any()):
            jsd[:, self.constant] = float("inf")
            dfn[:, self.constant] = float("inf")
        return jsd, dfn


def recompute(x: torch.Tensor, edges: torch.Tensor, clean_counts: torch.Tensor, c_clean: torch.Tensor,
              keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """From scratch: (JSD per feature, Pearson matrix, dFN) of x against the clean reference."""
    jsd = js_distance(clean_counts, histograms(x.to(torch.float64), edges))
    c, _ = pearson(x.to(torch.float64))
    return jsd, c, float(frobenius_change(c, c_clean, keep))
