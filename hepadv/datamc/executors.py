"""Where the Data/MC processor runs: registered executors wrapping coffea's (iterative, futures, dask).

An executor is a context manager yielding a coffea ``ExecutorBase``; whatever it starts (process pools, a
local dask cluster) is shut down on exit. Every executor processes the same chunks with the same per-chunk
random streams, so histograms are identical whichever one runs (tested).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from pydantic import Field

from hepadv.components import Component, ComponentParams


class ExecutorParams(ComponentParams):
    workers: int = Field(1, ge=1, description="parallel worker processes")


class Executor(Component):
    """Base class: ``run(status)`` yields the coffea executor; ``parallel`` says if workers are separate processes."""

    name: ClassVar[str]
    Params: ClassVar[type[ExecutorParams]] = ExecutorParams
    parallel: ClassVar[bool] = True

    def __init__(self, params: Any = None) -> None:
        self.params = self.parse_params(params)

    @contextmanager
    def run(self, status: bool = True) -> Iterator[Any]:
        raise NotImplementedError
        yield  # pragma: no cover


class IterativeExecutor(Executor):
    """One chunk after another in this process: simplest to debug, no pickling."""

    name: ClassVar[str] = "iterative"
    parallel: ClassVar[bool] = False

    @contextmanager
    def run(self, status: bool = True) -> Iterator[Any]:
        from coffea import processor

        yield processor.IterativeExecutor(status=status, desc="chunks", unit="chunk")


class FuturesExecutor(Executor):
    """A local pool of ``workers`` processes (loky), the processor and its models pickled to each."""

    name: ClassVar[str] = "futures"

    @contextmanager
    def run(self, status: bool = True) -> Iterator[Any]:
        from coffea import processor

        yield processor.FuturesExecutor(workers=self.params.workers, status=status, desc="chunks", unit="chunk")


class DaskExecutor(Executor):
    """dask.distributed: a local cluster of ``workers`` single-threaded processes, or an existing scheduler."""

    name: ClassVar[str] = "dask"

    class Params(ExecutorParams):
        scheduler: str | None = Field(None, description="scheduler address (tcp://host:8786); None: local cluster")

    @contextmanager
    def run(self, status: bool = True) -> Iterator[Any]:
        from coffea import processor
        from distributed import Client, LocalCluster

        if self.params.scheduler:
            with Client(self.params.scheduler) as client:
                yield processor.DaskExecutor(client=client, status=status, retries=0)
            return
        with LocalCluster(n_workers=self.params.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield processor.DaskExecutor(client=client, status=status, retries=0)
