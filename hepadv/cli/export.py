"""``hepadv export RUN_DIR --format onnx``: a trained tagger as an ONNX file that takes raw inputs."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)


def export_command(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A trained run, e.g. runs/adv."),
    variant: str = typer.Option(None, "--variant", help="Export only this variant (default: every trained one)."),
    checkpoint: str = typer.Option("best", "--checkpoint", help="best, last or an epoch number."),
    format_: str = typer.Option("onnx", "--format", help="Export format: onnx."),
    opset: int = typer.Option(None, "--opset", min=7, help="ONNX opset (default 18: ONNX Runtime >= 1.14)."),
    output: Path = typer.Option(None, "--output", "-o", help="Output folder (default RUN_DIR/export)."),
) -> None:
    """Write RUN_DIR/export/<variant>.onnx and <variant>.json (inputs in order, classes, discriminators).

    The graph holds the preprocessing (placeholders and missing values, defaults, scaling), the model and
    the softmax, so it takes the raw inputs in original units; the batch axis is dynamic. Each file is
    checked with ONNX Runtime against PyTorch before it is written.
    """
    from hepadv.cli.console import console
    from hepadv.errors import CardError
    from hepadv.export import OPSET, export_run

    if format_ != "onnx":
        raise CardError(f"--format {format_!r}: only onnx is supported")
    point: str | int = int(checkpoint) if checkpoint.isdigit() else checkpoint
    for r in export_run(run_dir, variant, point, opset or OPSET, output):
        console.print(f"[green]exported[/green] {r.variant} (epoch {r.epoch}) -> {r.path}  (inputs, classes, "
                      f"discriminators: {r.meta_path.name}); ONNX Runtime vs PyTorch max |diff| "
                      f"{r.max_abs_diff:.1e}", highlight=False)
