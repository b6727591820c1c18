"""``hepadv defend CARD``: run a defence pipeline (detector, augmentation, iterative adversarial training)
over R grey-box runs; metrics.json and plots land in RUN/defences/<name>-<hash>/."""

from __future__ import annotations

from pathlib import Path

import typer

from hepadv.cli.options import ProgressOption, SetOption
from hepadv.cli.report import ReportOption, refresh_report, run_dir_of


def register(app: typer.Typer) -> None:
    app.command("defend")(defend_command)


def defend_command(
    card_file: Path = typer.Argument(..., metavar="CARD", show_default=False,
                                     help="Defence card, e.g. cards/detector_conservattack.yaml."),
    set_: list[str] = SetOption,
    workers: int = typer.Option(None, "--workers", min=1, max=256, metavar="N",
                                help="Processes for the R runs \\[default: the card's]."),
    progress: bool = ProgressOption,
    report: bool = ReportOption,
) -> None:
    """Train R base models, attack them, apply the card's defence and score it grey-box (seed 004 sec. 6-9).

    Trained models, adversaries and detectors are kept in each run's directory and reused on the next call.
    """
    from hepadv.cards import load
    from hepadv.cards.defence import DefenceCard
    from hepadv.cli.console import console
    from hepadv.cli.progress import cli_progress
    from hepadv.defences.pipelines import defend

    reporter = cli_progress(progress)
    overrides: list[str | tuple[str, object]] = [*(set_ or []), *([("workers", workers)] if workers else [])]
    card = load(card_file, "defence", overrides, progress=reporter)
    assert isinstance(card, DefenceCard)
    result = defend(card, progress=reporter)
    console.print(_summary(result.metrics), highlight=False)
    console.print(f"[green]wrote[/green] {result.directory / 'metrics.json'} and plots/ in "
                  f"{result.metrics['seconds']:.0f} s", highlight=False)
    refresh_report(run_dir_of(result.directory), report)


def _summary(m: dict) -> str:
    """A few lines with the headline numbers of each pipeline."""
    if m["pipeline"] == "detector":
        wb, gb = m["white_box"], m["grey_box"]
        eff_a = sum(wb["detector_efficiency_adversarial"]) / m["runs"]
        eff_c = sum(wb["detector_efficiency_clean"]) / m["runs"]
        lines = [f"white-box fooling ratio {wb['initial_mean']:.3f} -> corrected {wb['corrected_mean']:.3f}",
                 f"grey-box fooling ratio {gb['initial']['mean']:.3f} ± {gb['initial']['std']:.3f} -> corrected "
                 f"{gb['corrected']['mean']:.3f} ± {gb['corrected']['std']:.3f}",
                 f"detector efficiency: adversarial {eff_a:.3f}, clean {eff_c:.3f}"]
        if m.get("data"):
            eff_d = sum(m["data"]["efficiency_at_threshold"]) / m["runs"]
            lines.append(f"detector clean efficiency on \"data\": {eff_d:.3f}")
        return "\n".join(lines)
    if m["pipeline"] == "augmentation":
        return (f"clean-test AUC: base {m['auc_base_mean']:.4f}, augmented {m['auc_augmented_mean']:.4f} "
                f"(gain {m['auc_gain']['mean']:+.4f} ± {m['auc_gain']['std']:.4f} over {m['runs']} runs)")
    it = m["per_iteration"]["mean"]
    return (f"grey-box fooling ratio: base {m['baseline']['mean']:.3f}; per iteration "
            + ", ".join(f"{v:.3f}" for v in it)
            + f"; average {m['average_case']['mean']:.3f}, best {m['best_case']['mean']:.3f}")
