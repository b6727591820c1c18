"""The HTML run report: one self-contained page per run folder, read from the run's JSON files and plots."""

from hepadv.report.render import write_report

__all__ = ["write_report"]
