"""``toyjets``: a seeded, vectorised generator of DeepCSV-like jets, the embedded default dataset.

Real PFNano files are large and not always at hand, yet every part of hepadv (training, attacks,
defences, metrics) must be runnable and testable anywhere. This module simulates the 67 DeepCSV
inputs (``deepcsv_features.FEATURES``) from a small physics model instead of sampling each feature
independently, so that the correlations a tagger learns, and an attacker exploits, are present:

* jet pT follows a falling power law (harder for b/bb), eta a Gaussian (wider for light jets);
* heavy-flavour jets contain b/c hadrons with boosted decay lengths; their charged daughters have
  impact parameters ~ c*tau and angles ~ M/pT to the jet axis, so Sip2d/3d, decay lengths, pT_rel,
  the vertex mass and the flight distance all follow from the same few latent variables;
* prompt tracks have resolution-driven impact-parameter significances, symmetric around zero,
  with non-Gaussian tails; light jets sometimes hold K_S / Lambda decays (displaced, low mass);
* tracks are sorted by decreasing 2D IP significance; the "above charm" track is the first one
  whose cumulative invariant mass (small-angle formula) passes 1.5 GeV;
* the vertex category (RecoVertex / PseudoVertex / NoVertex) follows from the displaced tracks;
* 3D significances are the transverse ones plus a longitudinal term; in heavy-flavour jets the decay
  daughters pull the fitted PV along z, giving every track a small coherent offset that only the
  3D - 2D differences reveal. This is the fine, redundant, fragile information a nominal tagger learns
  and an L-infinity attack reverses (each input moves by eps, the differences move by 2 eps), and
  that adversarial training gives up: without it FGSM hurt nominal and adversarial models alike.

Raw placeholders are written as in the real files (-999 for missing vertex quantities, -1 for the
"above charm" features, 0 for tracks a jet does not have, a few Inf/1e34 glitches) and delivered as
they are: ``FeatureSpec.transform`` turns them into defaults, so the cleaning rules run on toy data too.

The fragile feature is a planted, documented parameter, ``pv_pull`` (0.49 by default; 0 removes it).
It was tuned, on purpose, until the nominal model reliably learns the offset within the main job's 15
epochs: it is a demonstration that adversarial training gives up non-robust information, not a
reproduction of the papers' numbers. ``cards/adv_ablation.yaml`` runs the main job with ``pv_pull: 0``.

The constants (``_Tuning``) were calibrated so that the thesis' tagger (5 x 100 ReLU MLP, dropout
0.1, focal loss gamma 2, 15 epochs on 288k jets, ``cards/adv.yaml``) is good but not perfect, as in
the papers: BvsL AUC ~0.942 (thesis 0.946), CvsL ~0.75, BvsC ~0.89, b efficiency ~72 % at 1 % light
mistag (thesis 73 %). FGSM (eps = 0.01, eq. 4 cap) costs the nominal model ~0.012 BvsL AUC and
~0.037 CvsL AUC, an adversarially trained one about 0.4x and 0.3x of that, for ~0.007 raw BvsL AUC.
``pv_pull`` sets that balance: at 0.45 the nominal model does not reliably learn the offset in 15
epochs (BvsL ratio ~0.53), at 0.6 the offset is so informative that the raw BvsL gap reaches 0.01.
``difficulty`` scales the overlap for studies that need an easier or harder task.

``Response`` changes the detector and fragmentation response of the generated jets (IP resolution,
prompt-track multiplicity); all 1.0 is the simulation itself. The training data never uses it: it is
how ``hepadv.datamc.toynano`` makes "data" differ from the simulation in physically named ways.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from hepadv.bounds import check_memory
from hepadv.components import ComponentParams
from hepadv.data.base import DEEPCSV_CLASSES, Dataset, RawJets
from hepadv.data.deepcsv_features import (
    FEATURES,
    INTEGER_FEATURES,
    N_ETAREL,
    N_TRACKS,
    PLACEHOLDER,
)
from hepadv.ids import content_id
from hepadv.io import atomic_path
from hepadv.paths import cache_dir

log = logging.getLogger(__name__)

#: Bump when the generator changes, so stale caches are not reused.
GENERATOR_VERSION = 5
#: Jets per independently seeded block; bounds memory and fixes the random stream layout.
_BLOCK = 1 << 16
#: Fraction of non-integer raw values replaced by an Inf / NaN / 1e34 glitch.
_GLITCH_RATE = 1e-4
_CHARM_MASS2 = 1.5**2
_COL = {name: j for j, name in enumerate(FEATURES)}

# Hadron properties: mass [GeV], effective c*tau [cm] of the daughters that pass track selection.
_M_B, _CTAU_B = 5.28, 0.0455
_M_D = 1.87
_CTAU_D = np.array([0.0123, 0.0312, 0.0150])  # D0, D+, Ds
_P_D = np.array([0.60, 0.25, 0.15])
_M_V0 = np.array([0.498, 1.116])  # K_S, Lambda
_CTAU_V0 = 0.06  # selection (|IP| < 0.2 cm) keeps only the short decays


class _Tuning:
    """Knobs that set how separable the flavours are (multiplied by ``difficulty`` where noted).

    Per-kind arrays are indexed 0 b, 1 bb, 2 c, 3 light, 4 light with a K_S / Lambda decay.
    """

    pt_index = np.array([0.95, 0.85, 1.05, 1.15])  # power-law index per class: smaller = harder spectrum
    eta_sigma = np.array([1.0, 1.0, 1.1, 1.3])
    x_beta = (np.array([3.0, 2.5, 3, 1, 2]), np.array([3.0, 5, 3, 1, 6]))  # hadron momentum fraction ~ Beta(a, b)
    n_charged_min = np.array([2, 2, 1, 0, 2])  # charged daughters = min + Binomial(extra, 0.5)
    n_charged_extra = np.array([4, 4, 3, 0, 0])
    prompt_lambda = (3.0, 2.5, 1.0)  # prompt candidates ~ Poisson(a + b ln(pT/20) + c [light])
    prompt_pt_frac = 0.6  # charged fraction of the jet pT not carried by the hadrons
    prompt_width = 0.15  # angular spread of prompt tracks
    decay_angle = 1.0  # daughter angle in units of M / pT(hadron)
    track_eff = 0.9
    ip_res = (0.0025, 0.010, 0.3)  # sigma(IP) [cm] = (a (+) b / pT) * exp(c * N(0, 1))
    flight_res = (0.006, 0.01, 0.5)  # sigma(flight distance) [cm] = (a + b L) * exp(c * N(0, 1))
    ip_scale = 0.8  # mean decay-track IP in units of c*tau * lifetime draw
    v0_rate = 0.12  # light jets with a K_S / Lambda decay inside (x difficulty)
    tail2 = 0.12  # tracks with 2.5x the quoted IP resolution: scattering, shared hits (x difficulty)
    tail6 = 0.025  # tracks with 6x the resolution (x difficulty)
    tail20 = 0.005  # badly mis-measured tracks, 20x the resolution (x difficulty)
    fake_vertex = 0.3  # P(reco vertex | >= 2 prompt tracks with sig > 2) (x difficulty)
    sv_eff = 0.90  # vertex reconstruction efficiency for good heavy-flavour candidates
    v0_sv_eff = 0.50  # K_S mass veto removes about half of the V0 vertices
    neg_sign = 0.07  # decay tracks whose IP sign comes out negative (jet-axis mismatch)
    v0_mass_res = 0.008  # [GeV] mass resolution of a fully reconstructed K_S / Lambda vertex
    sig3d_res = 0.45  # spread of the longitudinal term that 3D significances add to the transverse ones
    pv_pull = 0.49  # longitudinal PV pull [in IP significance] per unit heavy-hadron momentum fraction


#: The planted fragile feature's default size (``_Tuning.pv_pull``), for modules that scale it.
PV_PULL: float = _Tuning.pv_pull


@dataclass(frozen=True)
class Response:
    """How generated jets differ from the simulation (1.0: they do not); toynano's "data" uses it.

    ``ip_noise`` multiplies the resolution-driven part of every 2D and 3D impact-parameter significance
    (a worse resolution than the track errors quote: data whose IP resolution simulation underestimates);
    ``prompt_tracks`` multiplies the mean number of prompt fragmentation tracks (which share the same
    charged pT, so each gets less), as a fragmentation model that mispredicts the charged multiplicity.
    """

    ip_noise: float = 1.0
    prompt_tracks: float = 1.0


_SIMULATION = Response()


def _segment_cumsum(values: np.ndarray, jet: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Cumulative sums restarted at every jet (tracks of a jet are contiguous, jets in order)."""
    cs = np.cumsum(values, dtype=np.float64)
    base = np.concatenate([[0.0], cs])[start]
    return cs - base[jet]


def _truncated_normal(rng: np.random.Generator, sigma: np.ndarray, limit: float) -> np.ndarray:
    """N(0, sigma) restricted to |x| < limit by redrawing the few outliers."""
    x = rng.standard_normal(sigma.shape) * sigma
    bad = np.abs(x) >= limit
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum())) * sigma[bad]
        bad = np.abs(x) >= limit
    return x


def _generate_block(
    rng: np.random.Generator, m: int, fractions: np.ndarray, difficulty: float, pv_pull: float = _Tuning.pv_pull,
    response: Response = _SIMULATION,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw features (with the real files' placeholders) and labels for ``m`` jets.

    Jet-level quantities are arrays of length ``m``; tracks live in flat arrays (one entry per selected
    track, grouped by jet) so the work scales with the real number of tracks, not with a padded width.
    """
    tn = _Tuning
    d = difficulty
    f32 = np.float32

    def unif(n: int | tuple[int, ...]) -> np.ndarray:
        return rng.random(n, dtype=f32)

    def normal(n: int | tuple[int, ...]) -> np.ndarray:
        return rng.standard_normal(n, dtype=f32)

    def gamma(shape: float, n: int, scale: float) -> np.ndarray:
        """Gamma(shape, scale) for shape in {1, 1.5, 2, ...}: sums of exponentials (+ Z^2 / 2), 5x faster."""
        g = rng.standard_exponential(n, dtype=f32)
        for _ in range(int(shape) - 1):
            g += rng.standard_exponential(n, dtype=f32)
        if shape % 1:
            z = normal(n)
            g += f32(0.5) * z * z
        return g * f32(scale)

    label = rng.choice(4, size=m, p=fractions)
    is_b, is_bb, is_c, is_l = (label == k for k in range(4))
    is_bhad = is_b | is_bb

    # --- jet kinematics -------------------------------------------------------------------------
    k = tn.pt_index[label]
    u_pt = (1.0 - rng.random(m) * (1.0 - 50.0**-k)).astype(f32)  # inverse CDF of a power law on (20, 1000)
    pt = (20.0 * np.exp(np.log(u_pt) * (-1.0 / k).astype(f32))).astype(np.float64)
    pt = np.clip(pt, 20.05, 999.5)
    eta = _truncated_normal(rng, tn.eta_sigma[label], 2.49)
    cosh_eta = np.cosh(eta)

    # --- hadrons: slot 0 (B, D, or K_S/Lambda in light jets) and slot 1 (second B of bb jets) -----------
    has_v0 = is_l & (rng.random(m) < min(0.6, tn.v0_rate * d))
    mass = np.zeros((m, 2))
    ctau = np.zeros((m, 2))
    mass[is_bhad, 0] = _M_B
    mass[is_bb, 1] = _M_B
    mass[is_c, 0] = _M_D
    mass[has_v0, 0] = _M_V0[(rng.random(m) < 0.25)[has_v0].astype(np.int64)]
    ctau[is_bhad, 0] = _CTAU_B / d
    ctau[is_bb, 1] = _CTAU_B / d
    ctau[is_c, 0] = _CTAU_D[rng.choice(3, size=m, p=_P_D)][is_c] / d
    ctau[has_v0, 0] = _CTAU_V0
    present_had = is_bhad | is_c | has_v0
    kind = np.where(has_v0, 4, label)  # 0 b, 1 bb, 2 c, 3 light, 4 light with V0
    x = np.zeros((m, 2))  # momentum fraction of the hadron(s)
    x[:, 0] = rng.beta(tn.x_beta[0][kind], tn.x_beta[1][kind]) * present_had
    x[is_bb, 1] = rng.beta(tn.x_beta[0][1], tn.x_beta[1][1], int(is_bb.sum()))
    vis = np.zeros((m, 2))
    vis[:, 0] = np.select([is_bhad, is_c, has_v0], [0.65, 0.6, 1.0], 0.0)
    vis[:, 1] = np.where(is_bb, 0.65, 0.0)
    present = mass > 0
    pt_had = np.maximum(x * pt[:, None], 1.0)
    opening = np.where(present, mass / pt_had, 0.0)  # typical daughter angle ~ M / pT
    e_life = rng.standard_exponential((m, 2))
    flight2d = np.where(present, np.minimum(pt_had / np.where(present, mass, 1.0) * ctau * e_life, 2.45), 0.0)
    had_spread = 0.035 * np.sqrt(50.0 / pt)[:, None] * (1.0 - 0.5 * x)  # hadron direction vs the jet axis
    had_ux, had_uy = had_spread * rng.standard_normal((m, 2)), had_spread * rng.standard_normal((m, 2))

    # --- selected tracks: hadron daughters first, then prompt fragmentation, in flat arrays grouped by jet ---
    # Daughters get a Gamma(2) share of the hadron momentum and are lost below the 1 GeV track selection
    # (and to quality cuts), so soft heavy-flavour decays show few displaced tracks.
    n_cand = np.zeros((m, 2), dtype=np.int64)
    n_cand[:, 0] = np.where(present[:, 0], tn.n_charged_min[kind] + rng.binomial(tn.n_charged_extra[kind], 0.5), 0)
    n_cand[is_bb, 1] = tn.n_charged_min[0] + rng.binomial(tn.n_charged_extra[0], 0.5, int(is_bb.sum()))
    cand_h = np.repeat(np.arange(2 * m), n_cand.ravel())  # index into the raveled (m, 2) hadron arrays
    cand_pt = (pt_had * vis / np.maximum(n_cand, 1)).astype(f32).ravel()[cand_h] * gamma(2.0, len(cand_h), 0.5)
    cand_keep = np.flatnonzero((cand_pt > 1.0) & (unif(len(cand_h)) < tn.track_eff))
    dec_h, dec_pt = cand_h[cand_keep], cand_pt[cand_keep]
    n_dec = np.bincount(dec_h, minlength=2 * m).reshape(m, 2)
    n_dec_tot = n_dec.sum(axis=1)
    # Prompt tracks: Poisson candidates with exponential pT; thinning by pT > 1 GeV keeps both exact
    x_tot = x.sum(axis=1)
    lam = (tn.prompt_lambda[0] + tn.prompt_lambda[1] * np.log(pt / 20.0) + tn.prompt_lambda[2] * is_l) * (
        1.0 - 0.6 * np.minimum(x_tot, 1.0)
    ) * response.prompt_tracks
    prompt_scale = pt * np.maximum(1.0 - x_tot, 0.1) * tn.prompt_pt_frac / np.maximum(lam, 1.0)
    n_pr = rng.poisson(lam * tn.track_eff * np.exp(-1.0 / prompt_scale))
    n_sel = n_dec_tot + n_pr
    start = np.cumsum(n_sel) - n_sel
    n_trk = int(n_sel.sum())
    jet = np.repeat(np.arange(m), n_sel)
    dec = np.arange(n_trk) - start[jet] < n_dec_tot[jet]
    dec_pos = start[dec_h // 2] + np.arange(len(dec_h)) - (np.cumsum(n_dec_tot) - n_dec_tot)[dec_h // 2]
    hflat = 2 * jet
    hflat[dec_pos] = dec_h
    hid = hflat - 2 * jet
    trk_pt = f32(1.0) + prompt_scale.astype(f32)[jet] * rng.standard_exponential(n_trk, dtype=f32)
    trk_pt[dec_pos] = dec_pt

    def per_track(a: np.ndarray) -> np.ndarray:
        return a.ravel()[hflat].astype(f32)

    # directions: offsets u from the jet axis in the eta-phi plane; daughters at angles ~ M / pT(hadron)
    width = (tn.prompt_width * (50.0 / pt) ** 0.15).astype(f32)[jet]
    r_prompt = width / np.sqrt(np.sqrt(trk_pt)) * gamma(1.5, n_trk, 1 / 1.5)  # softer tracks are wider
    r = np.where(dec, per_track(opening) * gamma(2.0, n_trk, 0.5 * tn.decay_angle), r_prompt)
    phi = unif(n_trk) * f32(2 * np.pi)
    ux = np.where(dec, per_track(had_ux), f32(0.0)) + r * np.cos(phi)
    uy = np.where(dec, per_track(had_uy), f32(0.0)) + r * np.sin(phi)
    r = np.hypot(ux, uy)
    shrink = f32(0.3) * -np.expm1(-r / f32(0.3)) / np.maximum(r, f32(1e-12))  # stay inside the cone
    ux, uy, r = ux * shrink, uy * shrink, r * shrink

    # impact parameters: decay tracks ~ c*tau * (lifetime draw) * (decay angle); all smeared by resolution
    # per-track resolution varies with the hit pattern: a log-normal factor gives the long significance tails
    sigma2d = np.sqrt(f32(tn.ip_res[0] ** 2) + (f32(tn.ip_res[1]) / trk_pt) ** 2) * np.exp(tn.ip_res[2] * normal(n_trk))
    sign = np.where(unif(n_trk) < tn.neg_sign, f32(-1.0), f32(1.0))
    ip_true = np.where(dec, sign * per_track(ctau * e_life) * gamma(2.0, n_trk, 0.5 * tn.ip_scale), f32(0.0))
    u_tail = unif(n_trk)
    tail = np.select(
        [u_tail < tn.tail20 * d, u_tail < (tn.tail20 + tn.tail6) * d, u_tail < (tn.tail20 + tn.tail6 + tn.tail2) * d],
        [f32(20.0), f32(6.0), f32(2.5)],
        f32(1.0),
    )
    noise2d = normal(n_trk)
    sig2d = ip_true / sigma2d + tail * noise2d * f32(response.ip_noise)

    # --- sort tracks by decreasing 2D IP significance inside each jet ----------------------------------
    order = np.argsort(jet + (0.5 - np.clip(sig2d, -1e3, 1e3).astype(np.float64) / 2048.0), kind="stable")
    trk_pt, ux, uy, r, dec, hid = trk_pt[order], ux[order], uy[order], r[order], dec[order], hid[order]
    sigma2d, ip_true, tail, noise2d, sig2d = sigma2d[order], ip_true[order], tail[order], noise2d[order], sig2d[order]

    # cumulative invariant mass of the leading tracks: m^2 = P * sum(p u^2) - |sum(p u)|^2 (small angles)
    c_p = _segment_cumsum(trk_pt, jet, start)
    c_vx = _segment_cumsum(trk_pt * ux, jet, start)
    c_vy = _segment_cumsum(trk_pt * uy, jet, start)
    c_m2 = np.maximum(c_p * _segment_cumsum(trk_pt * r**2, jet, start) - c_vx**2 - c_vy**2, 0.0)
    n_above = np.bincount(jet, weights=c_m2 > _CHARM_MASS2, minlength=m).astype(np.int64)
    has_charm = n_above > 0
    i_charm = np.minimum(start + n_sel - n_above, max(n_trk - 1, 0))  # first track above the charm mass
    p_tot = np.bincount(jet, weights=trk_pt, minlength=m)

    # --- per-track observables ------------------------------------------------------------------------
    eta_jet = eta.astype(f32)[jet]
    cosh_jet = cosh_eta.astype(f32)[jet]
    sigma3d = sigma2d * (1.2 + 0.4 * np.abs(eta_jet))
    # 3D = transverse significance + a longitudinal term. In heavy-flavour jets the decay daughters pull the
    # fitted PV along z toward the B / D decay, so every track of the jet gets a small negative longitudinal
    # offset: far below the spread of any single input, but coherent over the jet's tracks. A tagger reads it
    # from the 3D - 2D differences, a fragile direction that FGSM reverses and adversarial training gives up.
    pull = np.where(is_bhad | is_c, pv_pull * x_tot, 0.0).astype(f32)[jet]
    sig3d = sig2d + f32(tn.sig3d_res * response.ip_noise) * normal(n_trk) - pull
    val2d = sig2d * sigma2d
    val3d = sig3d * sigma3d
    # distance from the PV to the point of closest approach to the jet axis ~ IP / angle(track, axis)
    decay_len = np.minimum(np.abs(val3d) * cosh_jet / np.maximum(r, f32(0.01)) * (0.7 + 0.3 * unif(n_trk)), f32(4.99))
    jet_dist = -np.minimum(np.abs(val3d) * (0.1 + 0.7 * unif(n_trk)) + 0.0003 * np.abs(normal(n_trk)), f32(0.0699))
    pt_rel = trk_pt * r
    pt_ratio = r / cosh_jet

    # --- secondary vertex ---------------------------------------------------------------------------
    n_good = np.bincount(2 * jet + hid, weights=(sig2d > 1.5) & dec, minlength=2 * m).reshape(m, 2)
    n_disp = np.bincount(jet, weights=sig2d > 2.0, minlength=m).astype(np.int64)
    n_prompt_disp = np.bincount(jet, weights=(sig2d > 2.0) & ~dec, minlength=m)
    sigma_l = (tn.flight_res[0] + tn.flight_res[1] * flight2d) * np.exp(tn.flight_res[2] * rng.standard_normal((m, 2)))
    flight_meas = np.abs(flight2d + sigma_l * rng.standard_normal((m, 2)))
    flight_sig = flight_meas / sigma_l
    eff = np.where(has_v0[:, None], tn.v0_sv_eff, tn.sv_eff)
    ok = present & (n_good >= 2) & (flight_sig > 3.0) & (rng.random((m, 2)) < eff)
    reco_had = ok.any(axis=1)
    h_sel = (ok[:, 1] & (~ok[:, 0] | (flight_sig[:, 1] > flight_sig[:, 0]))).astype(np.int64)
    fake = ~reco_had & (n_prompt_disp >= 2) & (rng.random(m) < min(1.0, tn.fake_vertex * d))
    reco = reco_had | fake
    category = np.where(reco, 0, np.where(n_disp >= 2, 1, 2))
    n_sv = np.where(reco, ok.sum(axis=1) + fake + (rng.random(m) < 0.08), 0)

    def pick(a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(a, h_sel[:, None], axis=1)[:, 0]

    n_vtx_reco = np.where(fake, 2 + (rng.random(m) < 0.2), pick(n_good) + (rng.random(m) < 0.15))
    n_vtx = np.clip(np.where(reco, n_vtx_reco, n_disp), 1, np.maximum(n_sel, 1)).astype(np.int64)
    i_last = np.minimum(start + n_vtx - 1, max(n_trk - 1, 0))  # last vertex track (the leading ones)
    if n_trk:
        p_vtx, m_vtx = c_p[i_last], np.sqrt(c_m2[i_last])
        vx, vy = c_vx[i_last] / np.maximum(p_vtx, 1e-9), c_vy[i_last] / np.maximum(p_vtx, 1e-9)
    else:
        p_vtx = m_vtx = vx = vy = np.zeros(m)
    fl_ux = np.where(fake, vx + 0.05 * rng.standard_normal(m), pick(had_ux)) + 0.005 * rng.standard_normal(m)
    fl_uy = np.where(fake, vy + 0.05 * rng.standard_normal(m), pick(had_uy)) + 0.005 * rng.standard_normal(m)
    pt_miss = p_vtx * np.hypot(vx - fl_ux, vy - fl_uy)
    corr_mass = np.sqrt(m_vtx**2 + pt_miss**2) + pt_miss  # the corrected vertex mass of the thesis
    sv_mass = np.where(category == 0, corr_mass, m_vtx)
    # A reconstructed V0 vertex is a complete two-prong decay: its mass is the K_S / Lambda mass within a few
    # MeV. The narrow, strongly light-flavoured peak is what real taggers exploit and FGSM knocks jets out of.
    from_v0 = (category == 0) & reco_had & has_v0 & (h_sel == 0)
    sv_mass = np.where(from_v0, mass[:, 0] + tn.v0_mass_res * rng.standard_normal(m), sv_mass)
    sv_dr = np.where(category == 0, np.hypot(fl_ux, fl_uy), np.hypot(vx, vy))
    sv_eratio = p_vtx / np.maximum(p_tot, 1e-9)
    fake_sigma = 0.006 + 0.004 * rng.random(m)
    fake_flight = fake_sigma * (3.0 + rng.exponential(2.0, m))
    fl2d = np.where(fake, fake_flight, pick(flight_meas))
    fl2d_sig = np.where(fake, fake_flight / fake_sigma, pick(flight_sig))
    fl3d = fl2d * cosh_eta * (1.0 + 0.02 * np.abs(rng.standard_normal(m)))
    fl3d_sig = fl2d_sig * (0.9 + 0.2 * rng.random(m)) / (1.0 + 0.15 * np.abs(eta))

    # --- assemble the raw columns ---------------------------------------------------------------------
    raw_t = np.zeros((len(FEATURES), m), dtype=f32)  # feature-major: every column write is contiguous

    def put(name: str, values: np.ndarray) -> None:
        raw_t[_COL[name]] = values

    put("Jet_eta", eta)
    put("Jet_pt", pt)
    put("Jet_DeepCSV_trackJetPt", p_tot)
    put("Jet_DeepCSV_trackSumJetEtRatio", np.maximum(p_tot / pt * (1.0 + 0.05 * rng.standard_normal(m)), 0.0))
    sum_dr = np.hypot(c_vx[start + n_sel - 1], c_vy[start + n_sel - 1]) / np.maximum(p_tot, 1e-9) if n_trk else 0.0
    put("Jet_DeepCSV_trackSumJetDeltaR", np.where(n_sel > 0, np.minimum(sum_dr, 0.299), 0.02 * rng.random(m)))
    put("Jet_DeepCSV_vertexCategory", category)
    put("Jet_DeepCSV_jetNSecondaryVertices", n_sv)
    put("Jet_DeepCSV_jetNSelectedTracks", n_sel)
    n_etarel = np.where(category == 2, 0, np.minimum(n_vtx, n_sel))
    put("Jet_DeepCSV_jetNTracksEtaRel", n_etarel)
    for name, col in (("Sip2dVal", val2d), ("Sip2dSig", sig2d), ("Sip3dVal", val3d), ("Sip3dSig", sig3d)):
        put(f"Jet_DeepCSV_track{name}AboveCharm", np.where(has_charm, col[i_charm] if n_trk else 0.0, -1.0))

    per_track_values = {
        "trackDecayLenVal": decay_len,
        "trackDeltaR": r,
        "trackJetDistVal": jet_dist,
        "trackPtRel": pt_rel,
        "trackPtRatio": pt_ratio,
        "trackSip2dSig": sig2d,
        "trackSip3dSig": sig3d,
    }
    # the k-th leading track of a jet sits at start + k; a missing one points at a trailing 0 (count rule)
    lead_idx = np.where(np.arange(N_TRACKS)[:, None] < n_sel, start + np.arange(N_TRACKS)[:, None], n_trk)
    for prop, values in per_track_values.items():
        first = _COL[f"Jet_DeepCSV_{prop}_0"]
        np.take(np.append(values, f32(0.0)), lead_idx, out=raw_t[first : first + N_TRACKS], mode="clip")
    last_trk = max(n_trk - 1, 0)
    eta_rel = np.full((m, N_ETAREL), np.inf, dtype=f32)
    if n_trk:
        log_inv_r = np.log(2.0 * cosh_jet / np.maximum(r, f32(1e-3)))  # eta_rel ~ -ln tan(theta/2)
        for j in range(N_ETAREL):
            eta_rel[:, j] = np.where(n_etarel > j, log_inv_r[np.minimum(start + j, last_trk)], np.inf)
    eta_rel.sort(axis=1)  # CMS lists eta_rel in increasing order
    eta_rel[~np.isfinite(eta_rel)] = 0.0
    for j in range(N_ETAREL):
        put(f"Jet_DeepCSV_trackEtaRel_{j}", eta_rel[:, j])

    sv = category == 0
    sv_or_pseudo = category <= 1
    put("Jet_DeepCSV_flightDistance2dVal", np.where(sv, fl2d, PLACEHOLDER))
    put("Jet_DeepCSV_flightDistance2dSig", np.where(sv, fl2d_sig, PLACEHOLDER))
    put("Jet_DeepCSV_flightDistance3dVal", np.where(sv, fl3d, PLACEHOLDER))
    put("Jet_DeepCSV_flightDistance3dSig", np.where(sv, fl3d_sig, PLACEHOLDER))
    put("Jet_DeepCSV_vertexEnergyRatio", np.where(sv_or_pseudo, sv_eratio, PLACEHOLDER))
    put("Jet_DeepCSV_vertexJetDeltaR", np.where(sv_or_pseudo, sv_dr, PLACEHOLDER))
    put("Jet_DeepCSV_vertexMass", np.where(sv_or_pseudo, sv_mass, PLACEHOLDER))
    put("Jet_DeepCSV_vertexNTracks", np.where(sv_or_pseudo, n_vtx, PLACEHOLDER))

    raw = raw_t.T
    _add_glitches(rng, raw)
    return raw, label


_GLITCH_COLUMNS = np.array(
    [j for j, n in enumerate(FEATURES) if n not in INTEGER_FEATURES and n not in ("Jet_pt", "Jet_eta")]
)
_GLITCH_VALUES = np.array([np.inf, -np.inf, np.nan, 1e34, -1e34], dtype=np.float32)  # all > ABSURD for mark_missing


def _add_glitches(rng: np.random.Generator, raw: np.ndarray) -> None:
    """Scatter a few Inf / NaN / 1e34 values, as seen in the real files, so the cleaning is exercised."""
    n_glitch = rng.binomial(raw.shape[0] * len(_GLITCH_COLUMNS), _GLITCH_RATE)
    rows = rng.integers(0, raw.shape[0], n_glitch)
    cols = _GLITCH_COLUMNS[rng.integers(0, len(_GLITCH_COLUMNS), n_glitch)]
    raw[rows, cols] = _GLITCH_VALUES[rng.integers(0, len(_GLITCH_VALUES), n_glitch)]


def _check_fractions(fractions: tuple[float, ...] | list[float]) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (4,) or not np.all(np.isfinite(f)) or np.any(f <= 0) or abs(f.sum() - 1.0) > 1e-3:
        raise ValueError(f"fractions must be 4 positive numbers (b, bb, c, udsg) summing to 1, got {fractions!r}")
    return f / f.sum()


def generate_toyjets(
    n_jets: int,
    seed: int = 1,
    fractions: tuple[float, float, float, float] = (0.30, 0.05, 0.20, 0.45),
    difficulty: float = 1.0,
    pv_pull: float = _Tuning.pv_pull,
    response: Response = _SIMULATION,
) -> RawJets:
    """Generate ``n_jets`` DeepCSV-like jets (raw values, placeholders included); same arguments, same jets.

    Blocks of 2**16 jets are drawn from independent streams spawned from ``seed`` so that memory
    stays bounded whatever ``n_jets`` is. ``difficulty`` > 1 shortens heavy-flavour lifetimes and
    raises the light-jet fake rates (harder tagging), < 1 does the opposite. ``pv_pull`` is the planted
    fragile feature (see the module docstring); it changes only the 3D significances. ``response``: how
    these jets differ from the simulation (``Response``; the default is the simulation).
    """
    if n_jets < 1:
        raise ValueError(f"n_jets must be positive, got {n_jets}")
    if not difficulty > 0:
        raise ValueError(f"difficulty must be > 0, got {difficulty}")
    probs = _check_fractions(fractions)
    n_blocks = -(-n_jets // _BLOCK)
    streams = np.random.SeedSequence([GENERATOR_VERSION, seed]).spawn(n_blocks)
    features = np.empty((n_jets, len(FEATURES)), dtype=np.float32)
    labels = np.empty(n_jets, dtype=np.int64)
    for i, stream in enumerate(streams):
        lo, hi = i * _BLOCK, min((i + 1) * _BLOCK, n_jets)
        features[lo:hi], labels[lo:hi] = _generate_block(np.random.default_rng(stream), hi - lo, probs,
                                                         float(difficulty), float(pv_pull), response)
    return _raw_jets(features, labels)


#: ``task: b_vs_light``: the binary example task (b and bb jets against udsg; c jets left out).
BINARY_CLASSES: tuple[str, ...] = ("light", "b")


class ToyJets(Dataset):
    """Simulated DeepCSV-like jets (b, bb, c, udsg): the default dataset, needing no input files.

    Flavour-dependent lifetimes, masses, track multiplicities and resolution effects are simulated
    together so the inputs carry realistic correlations and overlaps; a DeepCSV-sized MLP reaches
    BvsL AUC ~0.95 and is FGSM-vulnerable much like on the real samples. Generated arrays are cached
    as ``<cache_dir>/toyjets/<hash>.npz`` because the same jets are reloaded for every run.
    """

    name: ClassVar[str] = "toyjets"

    class Params(ComponentParams):
        n_jets: int = Field(400_000, ge=100, description="number of jets to generate")
        seed: int = Field(1, ge=0, description="random seed; the same seed gives the same jets")
        fractions: tuple[float, float, float, float] = Field(
            (0.30, 0.05, 0.20, 0.45), description="class fractions b, bb, c, udsg (positive, sum 1)"
        )
        difficulty: float = Field(1.0, gt=0, description="flavour overlap: > 1 harder, < 1 easier")
        pv_pull: float = Field(_Tuning.pv_pull, ge=0, description=(
            "planted fragile feature: longitudinal PV pull of heavy-flavour tracks, seen only in 3D - 2D "
            "significances (0 removes it; see cards/adv_ablation.yaml)"))
        task: Literal["deepcsv", "b_vs_light"] = Field("deepcsv", description=(
            "deepcsv: classes b, bb, c, udsg; b_vs_light: binary light (0) vs b+bb (1), c jets dropped"))
        cache: bool = Field(True, description="cache the generated arrays under the hepadv cache folder")

        @field_validator("n_jets")
        @classmethod
        def _fits(cls, v: int) -> int:
            check_memory(f"{v:,} jets", v * (len(FEATURES) * 4 + 8) * 3)  # raw, preprocessed and split copies
            return v

        @field_validator("fractions")
        @classmethod
        def _fractions_valid(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
            _check_fractions(v)
            return v

    def _content_hash(self) -> str:
        """Hash of everything that determines the generated jets (not the ``cache`` switch)."""
        p = self.params
        key = {"v": GENERATOR_VERSION, "n": p.n_jets, "seed": p.seed, "f": list(p.fractions), "d": p.difficulty,
               "raw": True}
        if p.pv_pull != _Tuning.pv_pull:
            key["pv_pull"] = p.pv_pull
        return content_id(key)

    def cache_path(self) -> Path:
        """Where ``load`` keeps the generated arrays (read at call time, so ``HEPADV_CACHE_DIR`` applies)."""
        return cache_dir() / "toyjets" / f"{self._content_hash()}.npz"

    def cache_key(self) -> str:
        """Content identity for downstream caches: the ``cache`` switch does not change the jets."""
        return f"{self.name}:v{GENERATOR_VERSION}:{self._content_hash()}:{self.params.task}"

    def load(self) -> RawJets:
        """The jets of the card's task (see ``task``)."""
        jets = self._load_deepcsv()
        return jets if self.params.task == "deepcsv" else _b_vs_light(jets)

    def _load_deepcsv(self) -> RawJets:
        """Generate the jets, or read them back from the cache when the same parameters were used before."""
        p = self.params
        path = self.cache_path()
        if p.cache and path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    features, labels = z["features"], z["labels"]
                if features.shape == (p.n_jets, len(FEATURES)) and labels.shape == (p.n_jets,):
                    return _raw_jets(features, labels)
                log.warning("toyjets cache %s has unexpected shapes; regenerating", path)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
                log.warning("toyjets cache %s is unreadable (%s); regenerating", path, err)
        jets = generate_toyjets(p.n_jets, p.seed, p.fractions, p.difficulty, p.pv_pull)
        if p.cache:
            with atomic_path(path, suffix=".npz") as tmp:
                np.savez(tmp, features=jets.features, labels=jets.labels)
        return jets


def _b_vs_light(jets: RawJets) -> RawJets:
    """The binary task: light (udsg) = 0, b + bb = 1; c jets dropped."""
    keep = jets.labels != DEEPCSV_CLASSES.index("c")
    labels = (jets.labels[keep] <= DEEPCSV_CLASSES.index("bb")).astype(np.int64)
    return RawJets(jets.features[keep], labels, jets.pt[keep], jets.eta[keep], jets.feature_names,
                   jets.integer_features, BINARY_CLASSES)


def _raw_jets(features: np.ndarray, labels: np.ndarray) -> RawJets:
    """Wrap arrays as RawJets; pt and eta are copies of the Jet_pt / Jet_eta columns."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    return RawJets(
        features=features,
        labels=np.asarray(labels, dtype=np.int64),
        pt=features[:, _COL["Jet_pt"]].copy(),
        eta=features[:, _COL["Jet_eta"]].copy(),
        feature_names=FEATURES,
        integer_features=INTEGER_FEATURES,
        classes=DEEPCSV_CLASSES,
    )
