"""Distance correlation for CONSERVAttack's ``use_disco`` variant (seed 004 sec. 10), exact and incremental.

The distance correlation R_jk of features j and k over m events (Szekely 2007, V-statistic): with
a_j[b, c] = |x_bj - x_cj| and A_j its double-centred form (row, column and grand means removed),
S_jk = sum_bc A_j[b, c] A_k[b, c] (m^2 dCov^2) and R_jk = sqrt(S_jk / sqrt(S_jj S_kk)). From scratch that
is O(d m^2) for the matrices and O(d^2 m^2) for S; the paper recomputes it per candidate, O(d^2 m^2) each.

It does not need to. Double centring C is an orthogonal projection, so sum A_j A_k = sum a_j A_k: a
change x_ij -> v changes a_j only in row and column i, by delta_b = |v - x_bj| - |x_ij - x_bj| (delta_i = 0),
and then, exactly,

* S_jk += 2 sum_b delta_b A_k[i, b]                            (k != j; A_k does not move), and
* S_jj += 4 sum_b delta_b A_j[i, b] + ||C Delta||^2, with
  ||C Delta||^2 = 2 sum delta^2 - (2 / m) (sum delta^2 + sigma^2) + 4 sigma^2 / m^2, sigma = sum_b delta_b.

That is O(d m) per candidate (``DisCoStats.score``), instead of O(d^2 m^2). What stays expensive is memory
and the update after accepted changes: the (d, m, m) double-centred matrices, O(|F| d m^2) per applied
block touching |F| features. So the distance correlation is computed on subsamples: the constrained events
are dealt (seeded) into groups of ``disco_subsample`` events and each group keeps its own R matrix close to
its clean one; dFN(disco) is the mean over groups of ||R - R_clean||_F / ||R_clean||_F (off-diagonal, non-
constant features). A validator computing the distance correlation on any random subsample of that size
sees one of these groups' statistics.
"""

from __future__ import annotations

import torch


def distance_matrices(x: torch.Tensor) -> torch.Tensor:
    """(d, m, m) pairwise absolute differences per feature of x (m, d)."""
    xt = x.T.to(torch.float64)
    return (xt[:, :, None] - xt[:, None, :]).abs_()


def double_centre(a: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Remove row, column and grand means of each (m, m) matrix of a (..., m, m)."""
    rows, cols, grand = a.mean(dim=-1, keepdim=True), a.mean(dim=-2, keepdim=True), a.mean(dim=(-1, -2), keepdim=True)
    out = a if inplace else a.clone()
    return out.sub_(rows).sub_(cols).add_(grand)


#: float64 elements of the (B, d, C, m) candidate tensors scored at once (~128 MiB)
SCORE_CHUNK = 1 << 24


def group_bytes(m: int, d: int) -> int:
    """Memory of one group's statistics: the (d, m, m) centred distances, plus as much again in temporaries."""
    return 2 * d * m * m * 8


def gram(a_centred: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """S = sum_bc A_j A_k for all j (or j in ``rows``) and k: one (|rows|, m^2) x (m^2, d) product."""
    flat = a_centred.reshape(len(a_centred), -1)
    return (flat if rows is None else flat[rows]) @ flat.T


def correlation_from_gram(s: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """R_jk = sqrt(S_jk / sqrt(S_jj S_kk)) over kept features (0 elsewhere)."""
    root = torch.sqrt(torch.diagonal(s).clamp(min=1e-300))
    r2 = s.clamp(min=0) / (root[:, None] * root[None, :])
    both = keep[:, None] & keep[None, :]
    return torch.where(both, torch.sqrt(r2.clamp(max=1.0)), torch.zeros_like(r2))


def distance_correlation(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, constant mask) of x (m, d) from scratch, O(d^2 m^2)."""
    a = double_centre(distance_matrices(x))
    s = gram(a)
    constant = torch.diagonal(s) <= 0
    return correlation_from_gram(s, ~constant), constant


def relative_change(r: torch.Tensor, r_clean: torch.Tensor, keep: torch.Tensor) -> float:
    """||R - R_clean||_F / ||R_clean||_F over the off-diagonal entries of kept features."""
    k = keep.to(r.dtype)
    w = k[:, None] * k[None, :]
    w.fill_diagonal_(0.0)
    den = float(torch.sqrt(((r_clean * w) ** 2).sum()))
    return float(torch.sqrt((((r - r_clean) * w) ** 2).sum())) / den if den > 0 else 0.0


class DisCoStats:
    """Distance-correlation matrix of one group of events, tracked exactly under single-entry changes.

    ``keep`` (d,) names the features that count (the non-constant ones of the whole set); ``self.x`` is the
    group's current values; change it only through ``apply``.
    """

    def __init__(self, x: torch.Tensor, keep: torch.Tensor, r_clean: torch.Tensor | None = None) -> None:
        """``x`` the group's values. Without ``r_clean`` they are the clean set; with it (the clean matrix of
        an earlier ``DisCoStats``, and ``keep`` its ``keep``) they are the current values of that group."""
        if len(x) < 2:
            raise ValueError(f"a distance-correlation group needs at least 2 events, got {len(x)}")
        self.x = x.detach().to(torch.float64).clone()
        self.m, self.d = self.x.shape
        self.centred = double_centre(distance_matrices(self.x), inplace=True)
        self.s = gram(self.centred)
        self.keep = keep & (torch.diagonal(self.s) > 0) if r_clean is None else keep.clone()
        k = self.keep.to(torch.float64)
        self._w = k[:, None] * k[None, :]
        self._w.fill_diagonal_(0.0)
        self.r_clean = correlation_from_gram(self.s, self.keep) if r_clean is None else r_clean
        self.clean_norm = float(torch.sqrt(((self.r_clean * self._w) ** 2).sum()))
        self._refresh()

    def _refresh(self) -> None:
        self.r = correlation_from_gram(self.s, self.keep)
        self.diff = (self.r - self.r_clean) * self._w
        self.f2 = float((self.diff**2).sum())

    @property
    def dfn(self) -> float:
        return (max(self.f2, 0.0) ** 0.5) / self.clean_norm if self.clean_norm > 0 else 0.0

    def score(self, rows: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """dFN(disco) of the group after each single-entry candidate; rows (B,) local, values (B, d, C)."""
        if self.clean_norm == 0:
            return torch.zeros_like(values, dtype=torch.float64)
        step = max(1, SCORE_CHUNK // (self.d * values.shape[2] * self.m))
        if len(rows) > step:  # bounded memory: chunks of rows (never a loop over single events)
            return torch.cat([self.score(rows[i : i + step], values[i : i + step]) for i in range(0, len(rows), step)])
        xr = self.x[rows]  # (B, d)
        v = values.to(torch.float64)
        col = self.x.T[None, :, None, :]  # (1, d, 1, m)
        delta = (v[..., None] - col).abs() - (xr[:, :, None, None] - col).abs()  # (B, d, C, m)
        delta.scatter_(3, rows[:, None, None, None].expand(-1, self.d, v.shape[2], 1), 0.0)  # delta_i = 0
        a_rows = self.centred[:, rows, :].permute(1, 2, 0)  # (B, m, d): A_k[i, b]
        cross = 2 * torch.einsum("rjcb,rbk->rjck", delta, a_rows)  # (B, d, C, d): change of S_jk, k != j
        sigma = delta.sum(dim=3)
        sq = (delta**2).sum(dim=3)
        m = self.m
        own = torch.diagonal(cross, dim1=1, dim2=3).permute(0, 2, 1)  # (B, d, C): 2 sum delta A_j[i, b]
        centred_sq = 2 * sq - (2 / m) * (sq + sigma**2) + 4 * sigma**2 / m**2  # ||C Delta||^2
        s_jj = torch.diagonal(self.s)[None, :, None] + 2 * own + centred_sq
        s_kk = torch.diagonal(self.s)[None, None, None, :]
        s_jk = self.s[None, :, None, :] + cross  # (B, d, C, d)
        r2 = s_jk.clamp(min=0) / (s_jj.clamp(min=1e-300).sqrt()[..., None] * s_kk.clamp(min=1e-300).sqrt())
        w = self._w[None, :, None, :] > 0
        r_new = torch.where(w, torch.sqrt(r2.clamp(max=1.0)), torch.zeros_like(r2))  # row j of R after the change
        old_row = (self.diff**2).sum(dim=1)[None, :, None]  # sum_k D_jk^2 per j
        new_row = ((r_new - self.r_clean[None, :, None, :] * self._w[None, :, None, :]) ** 2).sum(dim=3)
        f2 = self.f2 + 2 * (new_row - old_row)  # row and column j change, the rest stays
        out = f2.clamp(min=0).sqrt() / self.clean_norm
        return torch.where(self.keep[None, :, None], out, torch.full_like(out, float("inf")))

    def apply(self, rows: torch.Tensor, new_rows: torch.Tensor) -> None:
        """x[rows] <- new_rows (local rows, distinct), exactly, touching only the changed rows' distances.

        For each changed feature f, Delta_f = a'_f - a_f lives in the rows and columns R_f of its changed
        events and E_f = C Delta_f is the change of A_f. With P[f, k] = sum Delta_f A_k (= sum E_f A_k, C
        being an orthogonal projection) and Q[f, k] = sum Delta_f E_k:
        S' = S + P + P^T + Q, where P and Q are zero outside the changed rows (and Q outside changed columns).
        Each sum over a matrix pair is O(|R_f| m) from the rows of Delta_f, so a block costs O(changes m d)
        plus O(|F| m^2) to update the centred matrices, instead of O(|F| d m^2) for recomputing them.
        """
        if len(rows) == 0:
            return
        changed_entries = new_rows != self.x[rows]
        features = changed_entries.any(dim=0).nonzero().squeeze(1).tolist()
        old_x = self.x.clone() if features else self.x
        self.x[rows] = new_rows
        if not features:
            return
        deltas, changes, touched = [], [], []
        for f in features:  # the features changed in this block (at most d), never the events
            r = rows[changed_entries[:, f]]
            old_dist = (old_x[r, f][:, None] - old_x[:, f][None, :]).abs()  # (|R|, m)
            new_dist = (self.x[r, f][:, None] - self.x[:, f][None, :]).abs()
            delta = torch.zeros((self.m, self.m), dtype=torch.float64, device=self.x.device)
            delta[r, :] = new_dist - old_dist
            delta[:, r] = delta[r, :].T
            deltas.append(delta)
            touched.append(r)
            changes.append(double_centre(delta))
        p = torch.zeros_like(self.s)
        for i, f in enumerate(features):
            p[f] = _sparse_inner(deltas[i], touched[i], self.centred)  # sum Delta_f A_k, every k
        e_changed = torch.stack(changes)  # (|F|, m, m)
        for i, f in enumerate(features):
            q = _sparse_inner(deltas[i], touched[i], e_changed)  # sum Delta_f E_k, k in F
            self.s[f, features] += q
        self.s += p + p.T
        for i, f in enumerate(features):
            self.centred[f] += changes[i]
        self._refresh()


def _sparse_inner(delta: torch.Tensor, rows: torch.Tensor, mats: torch.Tensor) -> torch.Tensor:
    """sum_bc delta[b, c] M_k[b, c] for each M_k of mats (K, m, m), delta symmetric and zero outside the rows
    and columns ``rows``: twice the sum over those rows, less the rows-by-rows block counted twice."""
    band = delta[rows, :]  # (|R|, m)
    full = torch.einsum("rc,krc->k", band, mats[:, rows, :])
    corner = torch.einsum("rs,krs->k", band[:, rows], mats[:, rows][:, :, rows])
    return 2 * full - corner
