"""Data/MC on a batch system: executors ``slurm`` and ``htcondor`` built on dask-jobqueue.

Each batch job runs one dask worker (``processes`` of them with ``cores`` between them); the scheduler
runs in this process and the coffea ``DaskExecutor`` sends it the chunks. What a site changes lives in the
card's ``executor.params`` (partition, account, memory, walltime, extra directives, a prologue that
activates the environment). Jobs are cancelled when the run ends, however it ends (error, Ctrl-C).

A watchdog follows the workers while chunks run: a lost worker is reported (dask re-runs its chunks on the
others, and ``adapt`` submits a replacement job); when no worker is left and no job of ours is queued or
running for ``lost_worker_timeout`` seconds, the run stops with a message instead of waiting for ever.
Completed chunks stay in the run's chunk store (``hepadv.datamc.chunks``), so running again finishes it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from pydantic import Field, model_validator

from hepadv.batch import slurm_job_states
from hepadv.cards.schema import Section
from hepadv.datamc.executors import Executor, ExecutorParams
from hepadv.errors import HepadvError

log = logging.getLogger("hepadv.datamc")


class BatchError(HepadvError):
    """The batch system is missing, refuses the request, or lost the workers."""


class AdaptSection(Section):
    """``adapt: {minimum, maximum}``: dask submits and cancels jobs between these bounds as work requires."""

    minimum: int = Field(1, ge=0)
    maximum: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _order(self) -> AdaptSection:
        if self.minimum > self.maximum:
            raise ValueError(f"adapt.minimum {self.minimum} is above adapt.maximum {self.maximum}")
        return self


class JobQueueParams(ExecutorParams):
    """Per-job resources and site settings; ``workers`` is the number of jobs (without ``adapt``)."""

    cores: int = Field(1, ge=1, description="cores per job")
    processes: int | None = Field(None, ge=1, description="dask worker processes per job (default: one "
                                  "single-threaded worker per core)")
    memory: str = Field("2GB", description="memory per job, e.g. 4GB")
    walltime: str = Field("01:00:00", description="HH:MM:SS per job")
    job_script_prologue: list[str] = Field(default_factory=list,
                                           description="shell lines run before the worker, e.g. activate a venv")
    python: str | None = Field(None, description="python on the worker nodes (default: this one)")
    adapt: AdaptSection | None = None
    scheduler_host: str | None = Field(None, description="address the workers reach the scheduler at")
    interface: str | None = Field(None, description="network interface for scheduler and workers, e.g. ib0")
    log_directory: str | None = Field(None, description="where the batch system writes worker logs")
    local_directory: str | None = Field(None, description="worker scratch space, e.g. $TMPDIR")
    start_timeout: float = Field(600.0, gt=0, description="seconds to wait for the first worker")
    lost_worker_timeout: float = Field(60.0, gt=0, description="seconds without any worker or job before stopping")
    connect_timeout: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _split(self) -> JobQueueParams:
        if self.processes is not None and self.processes > self.cores:
            raise ValueError(f"processes ({self.processes}) must not exceed cores ({self.cores})")
        return self


class JobQueueExecutor(Executor):
    """Shared machinery: checks, cluster start, job ids, watchdog, cancel on exit."""

    Params: ClassVar[type[ExecutorParams]] = JobQueueParams
    submit_command: ClassVar[str]
    system: ClassVar[str]

    def cluster_kwargs(self) -> dict[str, Any]:
        """The dask-jobqueue cluster arguments this card asks for (also what ``job_script`` shows)."""
        p: Any = self.params
        kwargs: dict[str, Any] = {
            "cores": p.cores, "processes": p.processes or p.cores, "memory": p.memory, "walltime": p.walltime,
            "python": p.python or sys.executable, "job_script_prologue": list(p.job_script_prologue),
            "job_name": "hepadv-datamc",
            "death_timeout": 120,  # a worker whose scheduler vanished (client SIGKILLed) ends its job
        }
        scheduler: dict[str, Any] = {"dashboard_address": ":0"}
        if p.scheduler_host:
            scheduler["host"] = p.scheduler_host
        kwargs["scheduler_options"] = scheduler
        for key in ("interface", "log_directory", "local_directory"):
            if getattr(p, key) is not None:
                kwargs[key] = getattr(p, key)
        return kwargs

    def make_cluster(self) -> Any:
        raise NotImplementedError

    def check_site(self) -> None:
        """Raise BatchError when the request cannot run here (no submit command, too large for a node)."""
        if shutil.which(self.submit_command) is None:
            raise BatchError(f"{self.submit_command} not found on PATH: executor {self.name!r} needs a "
                             f"{self.system} submit host (or use --executor futures / dask)")

    def job_script(self) -> str:
        """The batch script (SLURM) or submit description (HTCondor) each worker job gets."""
        with self._quiet():
            cluster = self.make_cluster()
            try:
                return str(cluster.job_script())
            finally:
                cluster.close()

    def job_states(self, ids: list[str]) -> dict[str, str]:
        raise NotImplementedError

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        yield

    @contextmanager
    def run(self, status: bool = True) -> Iterator[Any]:
        from coffea import processor
        from distributed import Client

        p: Any = self.params
        self.check_site()
        with _keep_sigint():
            import dask_jobqueue  # noqa: F401  (its import replaces the SIGINT handler)
        _quiet_dask_logs()
        cluster = self.make_cluster()
        client = None
        watchdog: Watchdog | None = None
        try:
            client = Client(cluster, timeout=p.connect_timeout)
            if p.adapt is not None:
                cluster.adapt(minimum_jobs=p.adapt.minimum, maximum_jobs=p.adapt.maximum)
                wanted = max(p.adapt.minimum, 1)
            else:
                cluster.scale(jobs=p.workers)
                wanted = p.workers
            ids = _wait_job_ids(cluster, wanted, timeout=60.0, system=self.system)
            log.info(f"{self.system} jobs: {', '.join(ids)}   dashboard: {cluster.dashboard_link}")
            self._wait_first_worker(client, cluster, p.start_timeout)
            watchdog = Watchdog(self, client, cluster, p.lost_worker_timeout)
            watchdog.start()
            try:
                yield processor.DaskExecutor(client=client, status=status, retries=0)
            except BaseException as exc:
                if watchdog.reason is not None:
                    raise BatchError(watchdog.reason) from exc
                raise
        finally:
            if watchdog is not None:
                watchdog.stop()
            ids = _job_ids(cluster)
            if client is not None:
                client.close(timeout=10)
            try:
                cluster.close(timeout=30)
            finally:
                self.cancel(ids)  # close() cancels; this covers jobs it did not know were gone
            if ids:
                log.info(f"{self.system} jobs cancelled: {', '.join(ids)}")

    def cancel(self, ids: list[str]) -> None:
        live = [i for i, s in self.job_states(ids).items() if s in ("PENDING", "RUNNING", "CONFIGURING", "IDLE")]
        if live:
            subprocess.run([self.cancel_command, *live], capture_output=True, check=False, timeout=30)

    cancel_command: ClassVar[str]

    def _wait_first_worker(self, client: Any, cluster: Any, timeout: float) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if client.scheduler_info(n_workers=-1)["workers"]:
                log.info(f"first worker up after {time.monotonic() - t0:.1f} s")
                return
            states = self.job_states(_job_ids(cluster))
            if states and all(s in ENDED for s in states.values()):
                raise BatchError(f"every {self.system} job ended before a worker started "
                                 f"({_describe(states)}); see the job logs"
                                 + (f" in {self.params.log_directory}" if self.params.log_directory else ""))
            time.sleep(0.5)
        states = self.job_states(_job_ids(cluster))
        raise BatchError(f"no dask worker started within {timeout:g} s ({_describe(states) or 'no jobs'}); "
                         "raise executor.params.start_timeout or check the queue")


def _quiet_dask_logs() -> None:
    """distributed sets its loggers to INFO; their lines would drown the progress output (``-v`` keeps them)."""
    if logging.getLogger().level <= logging.DEBUG:
        return
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in ("distributed", "dask_jobqueue"):
            logger = logging.getLogger(name)
            if logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)


ENDED = {"CANCELLED", "COMPLETED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL",
         "DEADLINE", "GONE", "REMOVED", "HELD"}


def _describe(states: dict[str, str]) -> str:
    return ", ".join(f"{i} {s}" for i, s in states.items())


def _job_ids(cluster: Any) -> list[str]:
    return [str(job.job_id) for job in list(cluster.workers.values()) if getattr(job, "job_id", None)]


def _wait_job_ids(cluster: Any, n: int, timeout: float, system: str) -> list[str]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        ids = _job_ids(cluster)
        if len(ids) >= n:
            return ids
        time.sleep(0.2)
    ids = _job_ids(cluster)
    if not ids:
        raise BatchError(f"{system} accepted no job within {timeout:g} s; check the card's queue/account and "
                         "the submit command's output in the log above")
    return ids


class Watchdog(threading.Thread):
    """Reports lost workers; stops the run (closing the client) when none is left and none is coming."""

    def __init__(self, executor: JobQueueExecutor, client: Any, cluster: Any, timeout: float) -> None:
        super().__init__(daemon=True, name="hepadv-batch-watchdog")
        self.executor, self.client, self.cluster, self.timeout = executor, client, cluster, timeout
        self.reason: str | None = None
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def run(self) -> None:
        seen: set[str] = set()
        empty_since: float | None = None
        while not self._stop_event.wait(1.0):
            try:
                workers = set(self.client.scheduler_info(n_workers=-1)["workers"])
            except Exception:  # client closing: the run is ending anyway
                return
            for lost in sorted(seen - workers):
                log.warning(f"worker {lost} was lost mid-run; dask re-runs its chunks on the others")
            seen = workers
            if workers:
                empty_since = None
                continue
            states = self.executor.job_states(_job_ids(self.cluster))
            if any(s not in ENDED for s in states.values()):
                empty_since = None  # a job is queued or starting (adapt replaces lost ones)
                continue
            empty_since = empty_since or time.monotonic()
            if time.monotonic() - empty_since >= self.timeout:
                self.reason = (f"every {self.executor.system} worker job ended mid-run ({_describe(states) or 'none'}) "
                               f"and none came back within {self.timeout:g} s; completed chunks are kept, "
                               "run the same command again to finish")
                log.error(self.reason)
                self.client.close(timeout=5)  # wakes the main thread's wait on the results
                return


class SlurmExecutor(JobQueueExecutor):
    """SLURM through ``dask_jobqueue.SLURMCluster``: one ``sbatch`` job per worker, ``scancel`` on exit."""

    name: ClassVar[str] = "slurm"
    submit_command: ClassVar[str] = "sbatch"
    cancel_command: ClassVar[str] = "scancel"
    system: ClassVar[str] = "SLURM"

    class Params(JobQueueParams):
        queue: str | None = Field(None, description="partition (sbatch -p); None: the site's default")
        account: str | None = Field(None, description="account to charge (sbatch -A)")
        job_extra_directives: list[str] = Field(default_factory=list,
                                                description='extra #SBATCH lines, e.g. ["--qos=short"]')

    def cluster_kwargs(self) -> dict[str, Any]:
        p: Any = self.params
        kwargs = super().cluster_kwargs()
        kwargs["job_extra_directives"] = list(p.job_extra_directives)
        for key in ("queue", "account"):
            if getattr(p, key) is not None:
                kwargs[key] = getattr(p, key)
        return kwargs

    def make_cluster(self) -> Any:
        with _keep_sigint():
            from dask_jobqueue import SLURMCluster

        return SLURMCluster(**self.cluster_kwargs())

    def check_site(self) -> None:
        super().check_site()
        check_node_fits(self.params.cores, self.params.memory, getattr(self.params, "queue", None))

    def job_states(self, ids: list[str]) -> dict[str, str]:
        return slurm_job_states(ids)


class HTCondorExecutor(JobQueueExecutor):
    """HTCondor through ``dask_jobqueue.HTCondorCluster``: one ``condor_submit`` job per worker.

    Built and its submit description tested against ``HTCondorCluster``; not run in CI (HTCondor is not
    packaged in Debian).
    """

    name: ClassVar[str] = "htcondor"
    submit_command: ClassVar[str] = "condor_submit"
    cancel_command: ClassVar[str] = "condor_rm"
    system: ClassVar[str] = "HTCondor"

    class Params(JobQueueParams):
        disk: str = Field("1GB", description="scratch disk per job")
        job_extra_directives: dict[str, str] = Field(
            default_factory=dict, description='extra submit description lines, e.g. {"+JobFlavour": "\\"longlunch\\""}')

    def cluster_kwargs(self) -> dict[str, Any]:
        p: Any = self.params
        kwargs = super().cluster_kwargs()
        kwargs.pop("walltime")  # HTCondor has no walltime argument: it goes in as +MaxRuntime
        kwargs["disk"] = p.disk
        kwargs["job_extra_directives"] = {"+MaxRuntime": str(_seconds(p.walltime)), **p.job_extra_directives}
        return kwargs

    def make_cluster(self) -> Any:
        with _keep_sigint():
            from dask_jobqueue import HTCondorCluster

        return HTCondorCluster(**self.cluster_kwargs())

    def job_states(self, ids: list[str]) -> dict[str, str]:
        if not ids or shutil.which("condor_q") is None:
            return {}
        codes = {"1": "IDLE", "2": "RUNNING", "3": "REMOVED", "4": "COMPLETED", "5": "HELD", "6": "RUNNING"}
        out = subprocess.run(["condor_q", *ids, "-af", "ClusterId", "ProcId", "JobStatus"], capture_output=True,
                             text=True, check=False, timeout=30).stdout
        states = {i: "GONE" for i in ids}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3:
                states[f"{parts[0]}.{parts[1]}"] = codes.get(parts[2], "UNKNOWN")
        return states


@contextmanager
def _keep_sigint() -> Iterator[None]:
    """Importing dask_jobqueue sets SIGINT to ``sys.exit()`` (exit code 0, no message): keep Ctrl-C a
    KeyboardInterrupt, so the CLI says "interrupted" and exits 130 after the jobs are cancelled."""
    import signal

    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    try:
        yield
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGINT, previous)


def _seconds(walltime: str) -> int:
    """``HH:MM:SS`` (or ``MM:SS``, ``SS``) in seconds."""
    try:
        parts = [int(x) for x in walltime.split(":")]
    except ValueError:
        raise BatchError(f"walltime {walltime!r}: expected HH:MM:SS") from None
    total = 0
    for part in parts:
        total = total * 60 + part
    return total


def check_node_fits(cores: int, memory: str | None, partition: str | None) -> None:
    """BatchError when no node of the partition has ``cores`` CPUs (or ``memory``), from ``sinfo``."""
    from dask.utils import parse_bytes

    cmd = ["sinfo", "-h", "-N", "-o", "%N %c %m"] + (["-p", partition] if partition else [])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
    except FileNotFoundError:
        raise BatchError("sinfo not found on PATH: cannot see the SLURM nodes") from None
    nodes = [line.split() for line in proc.stdout.splitlines() if len(line.split()) == 3]
    if not nodes:
        where = f"partition {partition!r}" if partition else "the default partition"
        detail = f": {proc.stderr.strip()}" if proc.stderr.strip() else ""
        raise BatchError(f"sinfo lists no node in {where}{detail}")
    max_cpus = max(int(n[1].rstrip("+")) for n in nodes)
    if cores > max_cpus:
        raise BatchError(f"executor.params.cores={cores} but the largest node has {max_cpus} CPUs (sinfo); "
                         "ask for fewer cores per job and more workers")
    if memory:
        max_mb = max(int(n[2].rstrip("+")) for n in nodes)
        if parse_bytes(memory) > max_mb * 2**20:
            raise BatchError(f"executor.params.memory={memory} but the largest node has {max_mb} MB (sinfo)")
