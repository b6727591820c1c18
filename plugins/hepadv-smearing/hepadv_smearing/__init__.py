"""hepadv plugin: resolution smearing x -> x * (1 + N(0, sigma^2)) in original units.

Only the hook lives here, so that loading the plugin (which every ``hepadv`` command does) imports
nothing heavy; the attack class sits at module level in ``hepadv_smearing.attack``, so it pickles to
dask workers.
"""

from __future__ import annotations

import hepadv
from hepadv.registry.hookspecs import Register

__version__ = "0.2.0"


@hepadv.hookimpl
def register_attacks(register: Register) -> None:
    from hepadv_smearing.attack import Smear

    register(Smear)
