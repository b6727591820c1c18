"""``run_datamc(card)``: the Python API behind ``hepadv datamc``.

Order of work: resolve samples (toynano or files), resolve taggers (training the run first if it has no
models), check every input file up front (readable, the tree, events, branches, MC truth) so that errors
name the file or branch before any chunk runs, run the coffea ``Runner`` with the chosen executor, then
report (``report.write_report``). Nothing is written before the processing has finished.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepadv.cards.datamc import DataMCCard, TaggerSection
from hepadv.datamc.taggers import ModelTagger, StoredTagger, portable_model
from hepadv.errors import CheckpointError, DataError, HepadvError, Interrupted
from hepadv.progress import Progress, as_progress
from hepadv.runs.layout import RunLayout
from hepadv.runs.lock import run_lock
from hepadv.runs.outputs import publish_dir

log = logging.getLogger("hepadv.datamc")


@dataclass
class Inputs:
    """Files per sample after the checks, plus what was skipped or noted on the way."""

    files: dict[str, list[Path]]
    tree: dict[str, str]
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    keys: dict[str, set[str]] = field(default_factory=dict)  # branches common to all files of a sample
    origin: str = "files"


def build_selection(card: DataMCCard) -> Any:
    from hepadv import get_selection

    spec = card.selection
    cls = get_selection(spec.name)
    return cls(spec._validated if spec._validated is not None else cls.parse_params(spec.params))


def toynano_params(card: DataMCCard, selection_name: str) -> Any:
    """The ``ToyNanoParams`` of the card's toynano samples for this selection's topology."""
    from hepadv.datamc.toynano import TOPOLOGIES, ToyNanoParams

    t = card.toynano
    topology = t.topology or selection_name
    if topology not in TOPOLOGIES:
        raise DataError(f"toynano has no topology for selection {selection_name!r} "
                        f"(it has {', '.join(TOPOLOGIES)}); set toynano.topology or give data and mc files")
    extra = {} if t.mismodelled is None else {"mismodelled": t.mismodelled}
    return ToyNanoParams(topology=topology, n_events_mc=t.n_events_mc, n_events_data=t.n_events_data,  # type: ignore[arg-type]
                         seed=t.seed, mismodelling=t.ip_scale(), effects=t.effects or {}, **extra)


def sample_files(card: DataMCCard, selection_name: str, progress: Progress | None = None,
                 ) -> tuple[dict[str, list[Path]], dict[str, str], str]:
    """(files per sample, tree per sample, origin): the card's files, or toynano files for the topology."""
    if card.mc is not None:
        samples = {"mc": card.mc} if card.data is None else {"data": card.data, "mc": card.mc}
        return ({s: list(v.files) for s, v in samples.items()}, {s: v.tree for s, v in samples.items()}, "files")
    from hepadv.datamc.toynano import toynano_files

    params = toynano_params(card, selection_name)
    effects = ", ".join(f"{name} {size:+g}" for name, size in params.sizes().items()) or "none"
    as_progress(progress).note(f"toynano {params.topology}: {params.n_events_mc:,} MC and {params.n_events_data:,} "
                               f"data events (data/MC differences: {effects}; generated once, then cached)")
    files = toynano_files(params)
    return {"data": [files["data"]], "mc": [files["mc"]]}, {"data": "Events", "mc": "Events"}, "toynano"


def resolve_run(section: TaggerSection, progress: Progress | None = None, device: str | None = None) -> Path:
    """The run directory of a model tagger; a run card's run is trained first when it has no trained variant."""
    if section.run is not None:
        run_dir = Path(section.run)
        if not run_dir.is_dir():
            raise CheckpointError(f"run directory {run_dir} does not exist")
        return run_dir
    from hepadv.cards import load_card
    from hepadv.runs.ensure import ensure_trained

    card = load_card(section.card, progress=progress)  # type: ignore[arg-type]
    ensure_trained(card, section.variants, train_if_missing=section.train_if_missing, device=device,
                   progress=progress, why="; done once, later runs reuse the checkpoints")
    return card.output_dir()


def build_taggers(card: DataMCCard, progress: Progress | None = None, device: str | None = None,
                  ) -> tuple[list[ModelTagger | StoredTagger], Path | None]:
    """Tagger objects for the processor and the first model run's directory (where outputs go)."""
    from hepadv.runs import variants as run_variants
    from hepadv.training.checkpoint import epoch_checkpoints

    taggers: list[ModelTagger | StoredTagger] = []
    first_run: Path | None = None
    for section in card.taggers:
        if section.stored is not None:
            taggers.append(StoredTagger(section.name or section.stored, section.stored))
            continue
        run_dir = resolve_run(section, progress, device)
        first_run = first_run or run_dir
        available = run_variants(run_dir)
        variants = section.variants or available
        for v in variants:
            if v not in available:
                raise CheckpointError(f"{run_dir}: no trained variant {v!r}; trained: {', '.join(available) or 'none'}")
            if section.checkpoints == "all":
                epochs = epoch_checkpoints(RunLayout(run_dir).checkpoints(v))
                points: list[str | int] = ["best", *(e for e, _ in epochs)]
            else:
                points = list(section.checkpoints)
            for point in points:
                label = "best" if point == "best" else f"e{int(point):03d}"
                prefix = f"{section.name}:" if section.name else ""
                taggers.append(ModelTagger(f"{prefix}{v}@{label}", portable_model(run_dir, v, point)))
    keys = [t.key for t in taggers]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise HepadvError(f"two taggers are both called {dupes[0]!r}; give them distinct names in the card")
    return taggers, first_run


def check_inputs(files: dict[str, list[Path]], trees: dict[str, str], selection: Any,
                 taggers: list[ModelTagger | StoredTagger], skip_bad_files: bool) -> Inputs:
    """Open every file once: readable ROOT, the tree, > 0 events, every needed branch, MC truth in MC.

    Without ``skip_bad_files`` the first problem raises a DataError naming file and branch; with it the file
    is reported and skipped (a sample left without files is still an error).
    """
    from hepadv.data.pfnano import open_tree

    result = Inputs({}, trees)
    for sample, paths in files.items():
        good: list[Path] = []
        for path in paths:
            try:
                notes, keys = _check_file(Path(path), trees[sample], sample, selection, taggers, open_tree)
            except DataError as exc:
                if not skip_bad_files:
                    raise
                result.skipped.append(str(exc))
                continue
            result.notes += notes
            result.keys[sample] = keys if sample not in result.keys else result.keys[sample] & keys
            good.append(Path(path))
        if not good:
            raise DataError(f"no usable {sample} file left after skipping bad files: "
                            + "; ".join(result.skipped[-len(paths):]))
        result.files[sample] = good
    return result


def _check_file(path: Path, tree_name: str, sample: str, selection: Any, taggers: list[Any], open_tree: Any,
                ) -> tuple[list[str], set[str]]:
    f, tree = open_tree(path, tree_name)
    with f:
        if tree.num_entries == 0:
            raise DataError(f"{path}: tree {tree_name!r} has no events (empty file)")
        keys = set(tree.keys())
    missing_core = [b for b in ("run", "luminosityBlock", "event") if b not in keys]
    if missing_core:
        raise DataError(f"{path}: branch {missing_core[0]!r} is missing (NanoAODSchema needs run, luminosityBlock, "
                        "event)")
    notes = selection.check_fields(keys, str(path))
    if sample == "mc":
        for b in ("genWeight", "Jet_hadronFlavour"):
            if b not in keys:
                raise DataError(f"{path} is given as MC but has no {b!r} branch: is it a data file? "
                                "(MC needs genWeight and the truth flavour)")
        if "Jet_nBHadrons" not in keys:
            notes.append(f"{path}: no Jet_nBHadrons, b and bb jets are both counted as b")
    for tagger in taggers:
        if isinstance(tagger, StoredTagger):
            try:
                tagger.branches_for(keys)
            except DataError as exc:
                raise DataError(f"{path}: {exc}") from None
            continue
        for b in tagger.required_branches():
            if b not in keys:
                raise DataError(f"{path}: tagger {tagger.key!r} needs branch {b!r}, which the file lacks "
                                "(the DeepCSV inputs are in PFNano, not in standard NanoAOD)")
    return notes, keys


def output_dir(card: DataMCCard, selection_name: str, run_dir: Path | None) -> Path:
    """``card.output`` (``{selection}`` in it replaced by the selection's name, so one card serves several
    selections), else ``RUN/datamc/SELECTION`` of the first model run, else ``runs/NAME/datamc/SELECTION``."""
    if card.output is not None:
        return Path(str(card.output).replace("{selection}", selection_name))
    return RunLayout(run_dir if run_dir is not None else Path("runs") / card.name).datamc_selection(selection_name)


def run_datamc(card: DataMCCard, *, progress: Progress | None = None, device: str | None = None,
               write: bool = True) -> dict[str, Any]:
    """Run the Data/MC study of ``card``; returns the results (also written under the output folder)."""
    from hepadv.datamc.processor import DataMCProcessor
    from hepadv.registry.manager import build

    progress = as_progress(progress)
    selection = build_selection(card)
    taggers, run_dir = build_taggers(card, progress, device)
    files, trees, origin = sample_files(card, selection.name, progress)
    inputs = check_inputs(files, trees, selection, taggers, card.skip_bad_files)
    inputs.origin = origin
    for line in inputs.skipped:
        progress.note(f"skipped bad file: {line}")
    for line in inputs.notes:
        progress.note(line)
    distortions: list[tuple[str, Any]] = []
    for spec in card.distortions:
        attack = build("attack", spec)
        label = spec.name
        n = 2
        while label in {lab for lab, _ in distortions}:  # the same attack twice (e.g. two epsilons): name-2, ...
            label, n = f"{spec.name}-{n}", n + 1
        distortions.append((label, attack))
    proc = DataMCProcessor(selection, taggers, {"data": "data", "mc": "mc"}, distortions, seed=card.seed,
                           torch_threads=1,  # one thread per worker: no oversubscription, comparable per-worker rates
                           replicas=card.bootstrap.replicas, groups=card.bootstrap.groups)
    # every needed branch is read in one bulk uproot call per chunk (coffea "preload"), not branch by branch
    fileset = {s: {"files": {str(p): inputs.tree[s] for p in ps},
                   "preload": proc.branches(inputs.keys[s], s == "mc")} for s, ps in inputs.files.items()}
    out = output_dir(card, selection.name, run_dir)
    executor = build_executor(card, out / "logs")
    with contextlib.ExitStack() as stack:
        if write:
            stack.enter_context(run_lock(out, progress.note))
        return _process(card, selection, taggers, distortions, inputs, executor, proc, fileset, out, write, progress)


@contextlib.contextmanager
def _coffea_bars(shown: bool) -> Any:
    """coffea draws its bars whatever ``status`` says (rich ignores its ``disable`` field): hide them here."""
    if shown:
        yield
        return
    from coffea.processor import executor as coffea_executor
    from rich.progress import Progress

    real = coffea_executor.rich_bar
    coffea_executor.rich_bar = lambda: Progress(disable=True)
    try:
        yield
    finally:
        coffea_executor.rich_bar = real


def _process(card: DataMCCard, selection: Any, taggers: list[Any], distortions: list[tuple[str, Any]],
             inputs: Inputs, executor: Any, proc: Any, fileset: dict[str, Any], out: Path, write: bool,
             progress: Progress) -> dict[str, Any]:
    import tempfile
    import time

    from coffea import processor
    from coffea.nanoevents import NanoAODSchema

    from hepadv.datamc.chunks import open_store, run_chunks

    scratch = None if write else tempfile.TemporaryDirectory(prefix="hepadv-chunks-")  # write=False: leave no files
    # completed chunks persist here, so an interrupted run resumes (hepadv.datamc.chunks)
    store = open_store(out if scratch is None else Path(scratch.name), proc)
    t0 = time.perf_counter()
    with _coffea_bars(progress.shows_bars), executor.run(status=progress.shows_bars) as coffea_executor:
        runner = processor.Runner(executor=coffea_executor, schema=NanoAODSchema, chunksize=card.chunksize,
                                  maxchunks=card.max_chunks, skipbadfiles=False, checkpointer=store)
        try:
            output, chunk_stats = run_chunks(runner, fileset, proc, store, progress.note, card.skip_bad_files)
        except HepadvError:
            raise
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted: completed chunks are kept in {store.root}; rerun the same command to "
                              "finish") from None
        except Exception as exc:
            raise DataError(f"Data/MC processing failed: {type(exc).__name__}: {_one_line(exc)} "
                            f"(completed chunks are kept in {store.root}; run again to finish)") from exc
        finally:
            if scratch is not None:
                scratch.cleanup()
    wall = time.perf_counter() - t0
    from hepadv.datamc.report import build_results, write_report

    inputs.skipped += chunk_stats.bad_files  # files that failed while their chunks were read
    for sample, paths in inputs.files.items():
        inputs.files[sample] = [p for p in paths if not any(b.startswith(f"{p}:") for b in chunk_stats.bad_files)]
    results = build_results(output, card, selection, taggers, distortions, inputs, wall)
    results["chunks"] = chunk_stats.to_dict()
    if inputs.origin == "toynano":  # what the "data" is: the data/MC differences applied, with their sizes
        params = toynano_params(card, selection.name)
        results["toynano"] = {"topology": params.topology, "n_events_mc": params.n_events_mc,
                              "n_events_data": params.n_events_data, "seed": params.seed,
                              "effects": params.sizes()}
    if write:
        with publish_dir(out, keep=("chunks", "logs")) as staging:
            write_report(results, output, staging, card)
        results["output"] = str(out)
    return results


def build_executor(card: DataMCCard, logs: Path) -> Any:
    """The card's executor; batch-system worker logs go to ``logs`` (in the output folder) unless the card says."""
    from hepadv.registry.manager import build

    params = card.executor.validated_params
    if "log_directory" in type(params).model_fields and params.log_directory is None:
        params = params.model_copy(update={"log_directory": str(logs.resolve())})
    return build("executor", card.executor, params)


def _one_line(exc: BaseException) -> str:
    from hepadv.data.pfnano import one_line

    return one_line(exc)
