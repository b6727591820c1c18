"""Built-in Data/MC executors: iterative, futures, dask."""

from hepadv.registry.hookspecs import Register, hookimpl


@hookimpl
def register_executors(register: Register) -> None:
    from hepadv.datamc.executors import DaskExecutor, FuturesExecutor, IterativeExecutor

    register(IterativeExecutor)
    register(FuturesExecutor)
    register(DaskExecutor)
