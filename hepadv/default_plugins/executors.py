"""Built-in Data/MC executors: iterative, futures, dask, and the batch systems slurm and htcondor."""

from hepadv.registry.hookspecs import Register, hookimpl


@hookimpl
def register_executors(register: Register) -> None:
    from hepadv.datamc.executors import DaskExecutor, FuturesExecutor, IterativeExecutor

    register(IterativeExecutor)
    register(FuturesExecutor)
    register(DaskExecutor)
    from hepadv.datamc.jobqueue import HTCondorExecutor, SlurmExecutor

    register(SlurmExecutor)
    register(HTCondorExecutor)
