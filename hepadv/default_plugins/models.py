"""Built-in models: the DeepCSV-like MLP."""

from hepadv.registry.hookspecs import Register, hookimpl


@hookimpl
def register_models(register: Register) -> None:
    from hepadv.models.deepcsv import DeepCSV

    register(DeepCSV)
