"""Built-in attacks."""

from hepadv.registry.hookspecs import Register, hookimpl


@hookimpl
def register_attacks(register: Register) -> None:
    from hepadv.attacks.fgsm import FGSM

    register(FGSM)
