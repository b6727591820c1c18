"""Built-in defences: adversarial training (a training strategy), the adversarial detector (a filter),
adversarial augmentation and iterative adversarial training (retraining pipelines of ``hepadv defend``)."""

from hepadv.registry.hookspecs import Register, hookimpl


@hookimpl
def register_defences(register: Register) -> None:
    from hepadv.defences.adversarial_training import AdversarialTraining
    from hepadv.defences.detector import AdversarialDetector
    from hepadv.defences.retraining import Augmentation, IterativeAdversarialTraining

    register(AdversarialTraining)
    register(AdversarialDetector)
    register(Augmentation)
    register(IterativeAdversarialTraining)
