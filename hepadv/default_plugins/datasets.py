"""Built-in datasets: toyjets (embedded default), pfnano (NanoAOD/PFNano ROOT), arrays (npz/parquet/HDF5)."""

from hepadv.registry.hookspecs import Register, hookimpl


@hookimpl
def register_datasets(register: Register) -> None:
    from hepadv.data.arrays import ArrayJets
    from hepadv.data.pfnano import PFNanoJets
    from hepadv.data.toyjets import ToyJets

    register(ToyJets)
    register(PFNanoJets)
    register(ArrayJets)
