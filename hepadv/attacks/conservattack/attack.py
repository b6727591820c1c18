"""CONSERVAttack (seed 004 sec. 3, 5; app. A, B): fool the tagger while every histogram and correlation stays.

Per iteration, for every event still in the loop: the sign of d attack_loss / d x gives each feature's
direction; candidates are min_change, min_change + step, ... along it (or ``num_candidates`` random values
between the event's value and the feature's clean minimum/maximum); each candidate (one feature, one
value) is scored by L = alpha * JSD + beta * dFN of the whole set after that change alone, where JSD is the
changed feature's Jensen-Shannon distance (clean vs current histogram) and dFN the relative Frobenius
change of the Pearson matrix. The lowest L is applied. With ``use_no_change`` a candidate whose own
increase of that JSD or of dFN exceeds ``max_jsd_single_change`` / ``max_frob_single_change`` is dropped,
and an event without any admissible candidate stays unchanged this iteration. Fooled events leave the loop
(unless ``optimize_already_fooled``) but stay in the statistics.

Statistics are exact and incremental (``stats.IncrementalStats``). ``block_size`` names the parallel
semantics: that many events are scored against the same statistics, then their accepted changes are
applied together and the statistics updated exactly. ``block_size: 1`` is the paper's strictly sequential
loop; larger blocks vectorise at the price that events of one block do not see each other's changes, so
they can pile into the same cheap move and push one histogram bin further than each of them saw. What
matters is the block's share of the set: on 20 000 test jets of the main job's nominal model (card
settings, 20 iterations) blocks of 0.025 / 0.1 / 0.4 / 1.6 / 10 % of the set gave FR 0.586 / 0.620 / 0.656 /
0.709 / 0.754 at mean JSD 0.0059 / 0.0079 / 0.0153 / 0.0264 / 0.0584 (dFN 0.118 / 0.132 / 0.141 / 0.142 /
0.162): larger blocks fool more jets, faster, by being more visible. The default (None) is 0.1 % of the
constrained events per block, close to sequential and still vectorised. The bounds hold per change against
the statistics it was scored on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from hepadv.attacks.base import AttackResult, DatasetAttack, DatasetAttackParams, FeatureMasks
from hepadv.attacks.conservattack.disco import DisCoStats, group_bytes
from hepadv.attacks.conservattack.regions import Cut, best_single_cut
from hepadv.attacks.conservattack.stats import IncrementalStats
from hepadv.data.spec import FeatureSpec
from hepadv.errors import HepadvError
from hepadv.evaluation.fooling import FooledCriterion, get_discriminator_for
from hepadv.models.base import attack_loss
from hepadv.progress import Progress, as_progress
from hepadv.random import RandomStream

log = logging.getLogger("hepadv.attacks")


class ConservAttackParams(DatasetAttackParams):
    """Seed 004 table 2 (values in scaled units, std = 1), plus the parallel semantics and the variants."""

    min_change: float = Field(0.01, gt=0, description="p_min: smallest change of a feature in one step")
    step: float = Field(0.01, gt=0, description="epsilon_step: spacing of the candidate changes")
    n_steps: int = Field(10, ge=1, le=10_000, description=(
        "candidates per feature in step mode: min_change + k * step, k < n_steps (the paper leaves the "
        "upper end implicit; candidates never leave the feature's clean range)"))
    num_candidates: int | None = Field(None, ge=1, le=10_000, description=(
        "num_C: that many uniform random values between the value and the feature's clean min/max "
        "(replaces min_change/step/n_steps spacing)"))
    n_iterations: int = Field(10, ge=1, le=10_000, description="n_it: passes over the events")
    num_bins: int = Field(200, ge=2, le=100_000, description="bins of each feature's histogram (JSD)")
    alpha: float = Field(4.0, ge=0, description="weight of the JSD in L = alpha JSD + beta dFN")
    beta: float = Field(1.0, ge=0, description="weight of dFN in L")
    max_jsd_single_change: float = Field(0.006, gt=0, description=(
        "max_JSD_t: largest increase of the changed feature's JSD one change may cause"))
    max_frob_single_change: float = Field(0.0002, gt=0, description=(
        "max_dFN_t: largest increase of dFN one change may cause"))
    use_no_change: bool = Field(True, description="nc: skip an event whose candidates all break a bound")
    optimize_already_fooled: bool = Field(False, description="opt_af: keep fooled events in the loop")
    use_disco: bool = Field(False, description=(
        "sec. 10: distance correlation instead of Pearson in dFN, kept per group of disco_subsample events "
        "(exact O(d m) per candidate, O(d m^2) memory per group; see conservattack.disco)"))
    disco_subsample: int = Field(512, ge=2, le=8192, description=(
        "use_disco: events per distance-correlation group (the constrained events are dealt into groups "
        "of this size, seeded); the paper's DisCo runs attacked 1000-2500 events"))
    features: list[str] | None = Field(None, description="feature mask: names that may move (None: all)")
    block_size: int | None = Field(None, ge=1, description=(
        "events scored against the same statistics before their changes are applied; 1 = the paper's "
        "sequential loop; None = 0.1 % of the constrained events (at least 1)"))
    fooled_by: Literal["argmax", "discriminator"] = Field("argmax", description=(
        "fooled = argmax class changed, or the discriminator crossed its working-point cut"))
    discriminator: str | None = Field(None, description="for fooled_by discriminator and the control region "
                                                          "(None: the task's first, BvsL for DeepCSV)")
    mistag: float = Field(0.01, gt=0, lt=1, description="working point of that discriminator on the clean set")
    control_region: bool = Field(False, description=(
        "sec. 5: constraints only below the best single-feature cut; the signal region moves freely"))
    batch_size: int = Field(65536, ge=1, description="events per forward/backward pass")
    seed: int = Field(0, ge=0, description="random candidates (num_candidates)")

    @model_validator(mode="after")
    def _some_weight(self) -> ConservAttackParams:
        if self.alpha == 0 and self.beta == 0:
            raise ValueError("alpha and beta cannot both be 0: every candidate would score the same")
        return self


def gradient_sign(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].detach().requires_grad_(True)
        (g,) = torch.autograd.grad(attack_loss(model, model(xb), y[i : i + batch_size]), xb)
        out.append(g.sign())
    return torch.cat(out) if out else torch.zeros_like(x)


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> np.ndarray:
    return torch.cat([torch.softmax(model(x[i : i + batch_size]), dim=1) for i in range(0, len(x), batch_size)]
                     ).double().cpu().numpy()


def feature_mask(names: list[str] | None, spec: FeatureSpec) -> np.ndarray:
    """(d,) bool of features the mask lets move; an unknown name is a one-line error."""
    if names is None:
        return np.ones(spec.n_features, dtype=bool)
    unknown = [n for n in names if n not in spec.names]
    if unknown:
        raise HepadvError(f"conservattack features: unknown feature {unknown[0]!r} (the model has "
                          f"{spec.n_features} features, e.g. {', '.join(spec.names[:3])})")
    return np.isin(np.asarray(spec.names), names)


def clean_range(x: torch.Tensor, movable: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature min and max over non-defaulted values: candidates stay inside (never on a default)."""
    inf = torch.full_like(x, float("inf"))
    lo = torch.where(movable, x, inf).min(dim=0).values
    hi = torch.where(movable, x, -inf).max(dim=0).values
    return lo, hi


class ConservAttack(DatasetAttack):
    """CONSERVAttack; see the module docstring and ``ConservAttackParams`` for the algorithm and knobs."""

    name: ClassVar[str] = "conservattack"
    Params: ClassVar[type[ConservAttackParams]] = ConservAttackParams

    def short_label(self) -> str:
        return f"conservattack α={self.params.alpha:g} β={self.params.beta:g}"

    def check(self, spec: FeatureSpec) -> None:
        feature_mask(self.params.features, spec)
        if self.params.fooled_by == "discriminator" or self.params.control_region:
            get_discriminator_for(spec, self.params.discriminator)

    def candidates(self, xr: torch.Tensor, direction: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
                   gen: torch.Generator | None, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, d, C) candidate values (representable in the model's dtype) and which are admissible."""
        p = self.params
        x3, dir3 = xr[:, :, None], direction[:, :, None]
        if p.num_candidates is None:
            mags = p.min_change + p.step * torch.arange(p.n_steps, dtype=torch.float64, device=xr.device)
            values = x3 + dir3 * mags
        else:
            bound = torch.where(direction > 0, hi, lo)
            room = ((bound - xr).abs() - p.min_change).clamp(min=0)[:, :, None]
            u = torch.rand((*xr.shape, p.num_candidates), generator=gen, dtype=torch.float64, device=xr.device)
            values = x3 + dir3 * (p.min_change + u * room)
        values = torch.minimum(torch.maximum(values, lo[None, :, None]), hi[None, :, None])
        values = torch.where(torch.isfinite(values) & (dir3 != 0), values, x3)  # no admissible value: stay
        values = values.to(dtype).to(torch.float64)
        ok = (dir3 != 0) & ((values - x3).abs() >= 0.999 * p.min_change)
        return values, ok

    def attack(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
               masks: FeatureMasks, rng: RandomStream | None, progress: Progress | None) -> AttackResult:
        p = self.params
        assert y is not None
        n, d = x.shape
        dev = x.device
        gen = torch.Generator(device=dev)  # random candidates and DisCo groups: the caller's stream, else p.seed
        gen.manual_seed(p.seed if rng is None else rng.seed_for("conservattack", p.seed) % 2**63)

        movable = masks.movable(x)
        allowed = torch.as_tensor(feature_mask(p.features, spec), device=dev) & ~masks.integer
        probs_clean = predict(model, x, p.batch_size)
        labels = y.cpu().numpy()
        criterion = FooledCriterion.build(spec, p.fooled_by, p.discriminator, p.mistag, probs_clean, labels)

        info: dict[str, Any] = {"fooled_definition": criterion.describe()}
        constrained = torch.ones(n, dtype=torch.bool, device=dev)
        cut: Cut | None = None
        if p.control_region:
            disc = get_discriminator_for(spec, p.discriminator)
            signal = torch.as_tensor(np.isin(labels, disc.signal), device=dev)
            cut = best_single_cut(x, signal, tuple(spec.names))
            constrained = ~cut.signal_region(x)
            info["control_region"] = {**cut.to_dict(), "signal": disc.group_label("signal"),
                                      "n_control": int(constrained.sum()), "n_signal": int((~constrained).sum())}
            if int(constrained.sum()) < 2:
                raise HepadvError(f"control region below the best cut on {cut.name} holds "
                                  f"{int(constrained.sum())} events; need at least 2")

        X = x.detach().to(torch.float64).clone()
        cr_rows = constrained.nonzero().squeeze(1)
        local = torch.full((n,), -1, dtype=torch.long, device=dev)
        local[cr_rows] = torch.arange(len(cr_rows), device=dev)
        stats = IncrementalStats(X[cr_rows], p.num_bins)
        constant = [spec.names[j] for j in stats.constant.nonzero().squeeze(1).tolist()]
        info["constant_features"] = constant
        if constant:
            log.warning("conservattack: %d constant feature(s) (%s): Pearson correlation undefined, left out of "
                        "dFN and never moved", len(constant), ", ".join(constant))
        allowed = allowed & ~stats.constant
        if not bool(allowed.any()):
            raise HepadvError("conservattack: no feature may move (all masked, integer or constant)")
        lo_c, hi_c = clean_range(X[cr_rows], movable[cr_rows])
        block = p.block_size or max(1, -(-len(cr_rows) // 1000))
        groups, group_of, group_local = self._disco_groups(X, cr_rows, stats.keep, gen)
        if groups:
            block = p.block_size or max(1, len(groups[0].members) // 32)
            info["disco_groups"] = group_of.cpu().numpy()
        info["block_size"] = block
        lo_s, hi_s = clean_range(X, movable)

        fooled = torch.zeros(n, dtype=torch.bool, device=dev)
        history: list[dict[str, Any]] = []
        with as_progress(progress).task("conservattack", total=p.n_iterations, events="") as bar:
            for it in range(1, p.n_iterations + 1):
                t0 = time.perf_counter()
                active = torch.ones_like(fooled) if p.optimize_already_fooled else ~fooled
                idx = active.nonzero().squeeze(1)
                direction = torch.zeros(n, d, dtype=torch.float64, device=dev)
                timing = {"gradient": 0.0, "score": 0.0, "apply": 0.0, "predict": 0.0}
                if len(idx):
                    g = gradient_sign(model, X[idx].to(x.dtype), y[idx], p.batch_size).to(torch.float64)
                    direction[idx] = g * (movable[idx] & allowed).to(torch.float64)
                timing["gradient"] = time.perf_counter() - t0
                n_changed, worst_jsd, worst_dfn = 0, 0.0, 0.0
                sr = idx[~constrained[idx]]
                if len(sr):  # signal region: unconstrained, every feature takes its largest candidate
                    values, ok = self.candidates(X[sr], direction[sr], lo_s, hi_s, gen, x.dtype)
                    big = torch.where(ok, (values - X[sr][:, :, None]).abs(), torch.full_like(values, -1.0))
                    pick = big.argmax(dim=2, keepdim=True)
                    take = torch.gather(ok, 2, pick).squeeze(2)
                    X[sr] = torch.where(take, torch.gather(values, 2, pick).squeeze(2), X[sr])
                    n_changed += int(take.any(dim=1).sum())
                cr = idx[constrained[idx]]
                parts = ([(cr, None)] if not groups else [(cr[group_of[cr] == i], g) for i, g in enumerate(groups)])
                done = 0
                for part, group in parts:
                    if group is not None and not len(part):
                        continue
                    disco = group.stats(X) if group is not None else None
                    for start in range(0, len(part), block):
                        rows = part[start : start + block]
                        changed, dj, df = self._block(stats, X, rows, local[rows], direction[rows], lo_c, hi_c,
                                                      gen, x.dtype, timing, disco, group_local[rows])
                        n_changed += changed
                        worst_jsd, worst_dfn = max(worst_jsd, dj), max(worst_dfn, df)
                        done += len(rows)
                        bar.update(events=f"{done:,}/{len(cr):,}")
                    if group is not None and disco is not None:  # (both or neither; for the type checker)
                        group.dfn = disco.dfn
                t1 = time.perf_counter()
                probs = predict(model, X.to(x.dtype), p.batch_size)
                fooled = torch.as_tensor(criterion.fooled(probs_clean, probs), device=dev)
                timing["predict"] = time.perf_counter() - t1
                entry = {"iteration": it, "fooling_ratio": float(fooled.double().mean()),
                         "mean_jsd": stats.mean_jsd, "dfn": stats.dfn, "n_active": len(idx), "n_changed": n_changed,
                         "max_single_jsd_increase": worst_jsd, "max_single_dfn_increase": worst_dfn,
                         **({"dfn_disco": float(np.mean([g.dfn for g in groups]))} if groups else {}),
                         "seconds": time.perf_counter() - t0, **{f"seconds_{k}": v for k, v in timing.items()}}
                if cut is not None:
                    entry["fooling_ratio_control"] = float(fooled[constrained].double().mean())
                    entry["fooling_ratio_signal"] = (float(fooled[~constrained].double().mean())
                                                     if bool((~constrained).any()) else None)
                history.append(entry)
                bar.advance(1, events=f"FR {entry['fooling_ratio']:.3f}  mean JSD {entry['mean_jsd']:.4f}  "
                                      f"dFN {entry['dfn']:.4f}")
        info["region_mask"] = constrained.cpu().numpy() if cut is not None else None
        info["criterion"] = criterion
        return AttackResult(x_adv=X.to(x.dtype), fooled=fooled, history=history, info=info)

    def _disco_groups(self, X: torch.Tensor, cr_rows: torch.Tensor, keep: torch.Tensor, gen: torch.Generator,
                      ) -> tuple[list[_DisCoGroup], torch.Tensor, torch.Tensor]:
        """use_disco: deal the constrained events (seeded) into groups of ~disco_subsample.

        Each group keeps its clean distance-correlation matrix; its O(d m^2) statistics stay in memory when all
        groups fit in ``DISCO_MEMORY``, else they are rebuilt from the current values when its events come up.
        Returns (groups, group of each event (-1: none), index of each event inside its group).
        """
        n, dev = len(X), X.device
        group_of = torch.full((n,), -1, dtype=torch.long, device=dev)
        group_local = torch.zeros(n, dtype=torch.long, device=dev)
        if not self.params.use_disco:
            return [], group_of, group_local
        n_groups = max(1, len(cr_rows) // self.params.disco_subsample)  # the remainder joins the groups
        largest = -(-len(cr_rows) // n_groups)
        need = group_bytes(largest, X.shape[1])
        if need > DISCO_MEMORY:
            raise HepadvError(f"conservattack use_disco: groups of {largest} events x {X.shape[1]} features need "
                              f"{need / 2**30:.1f} GiB (limit {DISCO_MEMORY / 2**30:.0f} GiB); lower "
                              f"disco_subsample (now {self.params.disco_subsample})")
        order = cr_rows[torch.randperm(len(cr_rows), generator=gen, device=dev)]
        keep_all = n_groups * need <= DISCO_MEMORY  # else one group at a time, rebuilt when it comes up
        groups = []
        for members in torch.tensor_split(order, n_groups):
            members = members.sort().values
            group_of[members] = len(groups)
            group_local[members] = torch.arange(len(members), device=dev)
            clean = DisCoStats(X[members], keep)  # X is still clean: these are also the current statistics
            groups.append(_DisCoGroup(members, clean.keep, clean.r_clean, keep_all, cached=clean if keep_all else None))
        log.info("conservattack use_disco: %d group(s) of ~%d events", n_groups, len(cr_rows) // n_groups)
        return groups, group_of, group_local

    def _block(self, stats: IncrementalStats, X: torch.Tensor, rows: torch.Tensor, local_rows: torch.Tensor,
               direction: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, gen: torch.Generator,
               dtype: torch.dtype, timing: dict[str, float], disco: DisCoStats | None = None,
               disco_rows: torch.Tensor | None = None) -> tuple[int, float, float]:
        """Score one block against the current statistics, apply the winners; (changed, worst increases).

        With ``disco`` (the block's distance-correlation group) dFN is that group's, not the Pearson one.
        """
        p = self.params
        t0 = time.perf_counter()
        xr = X[rows]
        values, ok = self.candidates(xr, direction, lo, hi, gen, dtype)
        jsd, dfn = stats.score(local_rows, values)
        jsd_now, dfn_now = stats.jsd[None, :, None], stats.dfn
        if disco is not None:
            assert disco_rows is not None
            dfn, dfn_now = disco.score(disco_rows, values), disco.dfn
        if p.use_no_change:  # the increase one change causes, against the statistics it was scored on
            ok &= (jsd - jsd_now) <= p.max_jsd_single_change
            ok &= (dfn - dfn_now) <= p.max_frob_single_change
        loss = torch.add(jsd * p.alpha, dfn, alpha=p.beta).masked_fill_(~ok, float("inf"))
        best_loss, best = loss.reshape(len(rows), -1).min(dim=1)
        take = torch.isfinite(best_loss)
        t1 = time.perf_counter()
        timing["score"] += t1 - t0
        if not bool(take.any()):
            return 0, 0.0, 0.0
        b = take.nonzero().squeeze(1)
        j, c = best[b] // values.shape[2], best[b] % values.shape[2]
        new_rows = xr[b].clone()
        new_rows[torch.arange(len(b), device=X.device), j] = values[b, j, c]
        stats.apply(local_rows[b], new_rows)
        if disco is not None:
            assert disco_rows is not None
            disco.apply(disco_rows[b], new_rows)
        X[rows[b]] = new_rows
        timing["apply"] += time.perf_counter() - t1
        d_jsd = jsd[b, j, c] - jsd_now[0, j, 0]
        return len(b), float(d_jsd.max()), float((dfn[b, j, c] - dfn_now).max())


#: Largest memory one use_disco group may take (its centred distance matrices and temporaries).
DISCO_MEMORY = 8 * 2**30


@dataclass
class _DisCoGroup:
    """One use_disco group: its events (global rows), kept features and clean distance-correlation matrix."""

    members: torch.Tensor
    keep: torch.Tensor
    r_clean: torch.Tensor
    keep_in_memory: bool = False
    dfn: float = 0.0
    cached: DisCoStats | None = None

    def stats(self, X: torch.Tensor) -> DisCoStats:
        """The group's statistics on the current values: kept from the last call when all groups fit in
        memory, else rebuilt from the current values (exact either way)."""
        if self.cached is not None:
            return self.cached
        built = DisCoStats(X[self.members], self.keep, self.r_clean)
        if self.keep_in_memory:
            self.cached = built
        return built
