"""What "fooled" means: the predicted class changed, or a discriminator crossed its working-point cut.

Seed 004 eq. 5 counts an event as fooled when the classifier's decision changes, f(x') != f(x). For the
4-class tagger the decision is either the argmax class or, as an analysis uses it, a discriminator such as
BvsL cut at a working point (e.g. 1 % mistag on the clean set); a jet is fooled when it changes side of that
cut. Binary models work the same way (argmax, or "<cls1>vs<cls0>").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hepadv.data.spec import FeatureSpec
from hepadv.errors import HepadvError
from hepadv.evaluation.discriminators import Discriminator, discriminator, is_signal, jets_for
from hepadv.evaluation.roc import roc_curve, threshold_at_mistag


def get_discriminator_for(spec: FeatureSpec, name: str | None) -> Discriminator:
    """The named discriminator of this task (None: the first one), or a one-line error naming the known ones."""
    known = dict(spec.discriminators)
    if name is None:
        return next(iter(known.values()))
    if name not in known:
        raise HepadvError(f"unknown discriminator {name!r} for classes {list(spec.classes)}; "
                          f"known: {', '.join(known)}")
    return known[name]


@dataclass(frozen=True)
class FooledCriterion:
    """Decides, from clean and attacked class probabilities, which events changed decision.

    ``discriminator`` None: argmax class. Otherwise a jet is tagged when its discriminator value is
    >= ``threshold`` (the clean set's cut at the working point) and fooled when that flips.
    """

    discriminator: Discriminator | None = None
    threshold: float | None = None

    @classmethod
    def build(cls, spec: FeatureSpec, by: str, name: str | None, mistag: float, probs_clean: np.ndarray,
              labels: np.ndarray | None) -> FooledCriterion:
        if by == "argmax":
            return cls()
        disc = get_discriminator_for(spec, name)
        if labels is None:
            raise HepadvError(f"a working point on {disc.name} needs truth labels to measure the mistag rate")
        sel = jets_for(labels, disc)
        scores = discriminator(probs_clean[sel], disc)
        try:
            roc = roc_curve(scores, is_signal(labels[sel], disc))
        except ValueError as exc:
            raise HepadvError(f"cannot place the {disc.name} working point on this set: {exc}") from None
        return cls(disc, threshold_at_mistag(roc, mistag))

    def decision(self, probs: np.ndarray) -> np.ndarray:
        """Per event: the argmax class, or 1/0 for tagged/untagged."""
        if self.discriminator is None:
            return np.asarray(probs).argmax(axis=1)
        return (discriminator(probs, self.discriminator) >= self.threshold).astype(np.int64)

    def fooled(self, probs_clean: np.ndarray, probs_adv: np.ndarray) -> np.ndarray:
        return self.decision(probs_clean) != self.decision(probs_adv)

    def describe(self) -> str:
        if self.discriminator is None:
            return "argmax class changed"
        return f"{self.discriminator.name} >= {self.threshold:.6g} flipped"
