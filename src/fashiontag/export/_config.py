"""ExportConfig: every ``fashiontag export`` setting in one frozen dataclass (defaults -> YAML -> key=value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fashiontag.export._int8 import Int8Options


@dataclass(frozen=True)
class ExportConfig:
    """What to export and, for int8, which images calibrate it and which measure the accuracy change.

    Example:
        >>> from fashiontag.config import build_config
        >>> build_config(ExportConfig, overrides=["int8=true", "int8_options.calibrate_method=percentile"]).int8
        True
    """

    format: str = "onnx"  # a registered exporter (list_exporters())
    int8: bool = False  # also write model.int8.onnx (static with data, else dynamic)
    data: str | None = None  # int8 images: a dataset (with split_file), or a folder / .csv / .npz
    split_file: str | None = None  # item_id,split file: calibrate on train, report on `split`
    split: str = "val"  # split the accuracy change is reported on
    reader: str | None = None  # dataset reader (default: the model's training reader)
    calibration_size: int = 300  # calibration images (at most)
    report_size: int = 1000  # report images (at most; 0 = the whole split)
    opset: int = 18
    exporter: str = "dynamo"  # dynamo or torchscript (the other is the fallback)
    int8_options: Int8Options = field(default_factory=Int8Options)  # static quantisation settings

    def export_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`fashiontag.export.export_model` (everything but ``format``)."""
        return {
            "int8": self.int8, "data": self.data, "opset": self.opset, "exporter": self.exporter,
            "split_file": self.split_file, "split": self.split, "reader": self.reader,
            "calibration_size": self.calibration_size, "report_size": self.report_size or None,
            "int8_options": self.int8_options,
        }  # fmt: skip
