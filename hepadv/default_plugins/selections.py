"""Built-in Data/MC selections: dy, wc, ttsemilep (muon channel) and inclusive (every good jet)."""

from hepadv.registry.hookspecs import Register, hookimpl


@hookimpl
def register_selections(register: Register) -> None:
    from hepadv.datamc.selections import DrellYan, Inclusive, TTSemiLeptonic, WPlusCharm

    register(DrellYan)
    register(WPlusCharm)
    register(TTSemiLeptonic)
    register(Inclusive)
