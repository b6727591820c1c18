"""Trained taggers exported for use outside hepadv: ONNX with the preprocessing inside the graph."""

from hepadv.export.onnx import OPSET, ExportResult, export_run, export_trained

__all__ = ["OPSET", "ExportResult", "export_run", "export_trained"]
