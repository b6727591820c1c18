"""A task's output classes and the discriminators they fix (definitions only; the arithmetic is in
``hepadv.evaluation.discriminators``).

The 4-class DeepCSV task (b, bb, c, udsg) has BvsL, BvsC, CvsB, CvsL; a binary task one discriminator (class 1 vs
class 0); any other task one "<class>vsRest" per class.
"""

from __future__ import annotations

from dataclasses import dataclass

#: DeepCSV output classes in the thesis order.
DEEPCSV_CLASSES: tuple[str, ...] = ("b", "bb", "c", "udsg")

B, BB, C, UDSG = (DEEPCSV_CLASSES.index(name) for name in ("b", "bb", "c", "udsg"))

@dataclass(frozen=True)
class Discriminator:
    """A ratio of summed class probabilities: signal / (signal + background)."""

    name: str
    signal: tuple[int, ...]
    background: tuple[int, ...]
    class_names: tuple[str, ...] = DEEPCSV_CLASSES

    @property
    def classes(self) -> tuple[int, ...]:
        """All class indices that take part; jets of other classes stay out of the ROC."""
        return self.signal + self.background

    def group_label(self, which: str) -> str:
        """Human-readable group name for axis labels, e.g. ``"b+bb"`` for the BvsL signal."""
        indices = self.signal if which == "signal" else self.background
        return "+".join(self.class_names[i] for i in indices)


DISCRIMINATORS: dict[str, Discriminator] = {
    d.name: d
    for d in (
        Discriminator("BvsL", signal=(B, BB), background=(UDSG,)),
        Discriminator("BvsC", signal=(B, BB), background=(C,)),
        Discriminator("CvsB", signal=(C,), background=(B, BB)),
        Discriminator("CvsL", signal=(C,), background=(UDSG,)),
    )
}


def discriminators_for(classes: tuple[str, ...] | list[str]) -> dict[str, Discriminator]:
    """The discriminators of a task with these output classes (in output order)."""
    classes = tuple(classes)
    if classes == DEEPCSV_CLASSES:
        return dict(DISCRIMINATORS)
    if len(classes) == 2:
        name = f"{classes[1]}vs{classes[0]}"
        return {name: Discriminator(name, signal=(1,), background=(0,), class_names=classes)}
    rest = range(len(classes))
    return {f"{c}vsRest": Discriminator(f"{c}vsRest", signal=(i,), background=tuple(j for j in rest if j != i),
                                        class_names=classes) for i, c in enumerate(classes)}
