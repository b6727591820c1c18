"""Built-in attacks."""

from hepadv.registry.hookspecs import Register, hookimpl


@hookimpl
def register_attacks(register: Register) -> None:
    from hepadv.attacks.fgsm import FGSM
    from hepadv.attacks.noise import GaussianNoise
    from hepadv.attacks.pgd import PGD
    from hepadv.attacks.shift import SystematicShift

    register(FGSM)
    register(PGD)
    register(GaussianNoise)
    register(SystematicShift)
