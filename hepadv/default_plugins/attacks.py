"""Built-in attacks."""

from hepadv.registry.hookspecs import Register, hookimpl


@hookimpl
def register_attacks(register: Register) -> None:
    from hepadv.attacks.fgsm import FGSM
    from hepadv.attacks.pgd import PGD

    register(FGSM)
    register(PGD)
