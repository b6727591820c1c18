"""``write_report``: collect the sections that exist and render them into one self-contained HTML file.

Images are embedded as data URIs, CSS and JavaScript are inline, and a Content-Security-Policy forbids
every request, so the file opens the same from a laptop, a mail attachment or a web area. The page is a
function of the run's files (no time of writing in it), so an unchanged run gives a byte-identical report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hepadv.errors import HepadvError
from hepadv.io import atomic_path
from hepadv.report.attacks import attacks_section
from hepadv.report.content import Section
from hepadv.report.datamc import datamc_section
from hepadv.report.defences import defences_section
from hepadv.report.exports import exports_section
from hepadv.report.layout import ReportPaths
from hepadv.report.provenance import provenance_section
from hepadv.report.training import training_section
from hepadv.runs.record import source_commit


def collect(paths: ReportPaths, written_by: dict[str, str]) -> list[Section]:
    """The sections whose files exist, in reading order."""
    found = [provenance_section(paths, written_by), training_section(paths), attacks_section(paths),
             datamc_section(paths), defences_section(paths), exports_section(paths)]
    return [s for s in found if s is not None]


def render(title: str, run: Path, sections: list[Section], written_by: dict[str, str]) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("hepadv.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(title=title, run=str(run), sections=sections,
                                                     written_by=written_by)


def write_report(run_dir: Path | str) -> Path:
    """Write ``RUN/report.html`` from the run's JSON files and plots; returns its path."""
    from hepadv import __version__

    paths = ReportPaths(Path(run_dir))
    if not paths.run.is_dir():
        raise HepadvError(f"{run_dir}: no such run folder")
    written_by = {"version": __version__, "commit": source_commit() or ""}
    sections = collect(paths, written_by)
    if not sections:
        raise HepadvError(f"{run_dir}: nothing to report (no run record, metrics, attacks, Data/MC or defence "
                          "results)")
    title = _title(paths)
    html = render(title, paths.run, sections, written_by)
    if paths.report.is_file() and paths.report.read_text(encoding="utf-8") == html:
        return paths.report  # the same files give the same page: a run folder that did not change stays as it was
    with atomic_path(paths.report, suffix=".html", mode=0o644) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return paths.report


def _title(paths: ReportPaths) -> str:
    from hepadv.report.content import load_json

    config: Any = load_json(paths.config)[0] if paths.config.is_file() else None
    return str(config.get("name")) if isinstance(config, dict) and config.get("name") else paths.run.name
