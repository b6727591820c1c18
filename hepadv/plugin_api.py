"""The plugin API version: what third-party components may rely on (``docs/plugins.md``, "Compatibility").

``PLUGIN_API`` is ``MAJOR.MINOR``. A minor release only adds: a component written for an older minor version of
the same major keeps working. A component relying on a signature that a new major version dropped keeps working
for one more major version where hepadv can adapt it, with a one-line deprecation note in ``hepadv plugins``;
where it cannot, the registry refuses it when the plugin loads, in one line naming the plugin and what changed,
never mid-run. ``CHANGELOG.md`` lists every change a plugin author must know.

History: 1.0 (hepadv 0.1): ``Attack.perturb(model, x, y, masks)``, ``DatasetAttack.run``. 2.0 (hepadv 0.2): one
attack contract, ``Attack.generate(model, x, y, spec, rng, progress)``; ``perturb`` gains ``rng``; progress is a
``hepadv.progress.Progress``; random components get a ``hepadv.random.RandomStream``.
"""

PLUGIN_API = "2.0"
