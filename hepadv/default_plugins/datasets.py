"""Built-in datasets: toyjets (embedded default), pfnano (NanoAOD/PFNano ROOT), arrays (npz/parquet/HDF5),
donut (2-D toy)."""

from hepadv.registry.hookspecs import Register, hookimpl


@hookimpl
def register_datasets(register: Register) -> None:
    from hepadv.data.arrays import ArrayJets
    from hepadv.data.donut import Donut
    from hepadv.data.pfnano import PFNanoJets
    from hepadv.data.toyjets import ToyJets

    register(ToyJets)
    register(PFNanoJets)
    register(ArrayJets)
    register(Donut)
