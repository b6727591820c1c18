"""Built-in defences."""

from hepadv.registry.hookspecs import Register, hookimpl


@hookimpl
def register_defences(register: Register) -> None:
    from hepadv.defences.adversarial_training import AdversarialTraining

    register(AdversarialTraining)
