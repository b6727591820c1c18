"""Built-in attacks."""

from hepadv.registry.hookspecs import Register, hookimpl


@hookimpl
def register_attacks(register: Register) -> None:
    from hepadv.attacks.conservattack.attack import ConservAttack
    from hepadv.attacks.fgsm import FGSM
    from hepadv.attacks.noise import GaussianNoise
    from hepadv.attacks.pgd import PGD
    from hepadv.attacks.shift import SystematicShift

    register(FGSM)
    register(PGD)
    register(GaussianNoise)
    register(SystematicShift)
    register(ConservAttack)  # dataset-level: run(model, x, y, spec) on the whole set
