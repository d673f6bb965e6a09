"""The schema of ``fashiontag.json``: types and ranges checked when a sidecar is read or written.

A hand-edited sidecar with ``thresholds: "abc"`` or ``preprocess.size: 0`` must fail at load with one clear
line, not later as a traceback or an HTTP 500 on every request. Keys the schema does not name (training,
metrics, export reports, ...) pass through unchecked: they describe the model, they do not define it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_PLAIN = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9_.\-]+$")  # a file or folder name, never a path

# A threshold just above 1 means "never auto-label this head" (evaluate's NEVER = 1 + 1e-6), so allow a hair over 1.
Probability = Annotated[float, Field(ge=0.0, le=1.01, allow_inf_nan=False)]
Temperature = Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)]
Channel = Annotated[float, Field(ge=-10.0, le=10.0, allow_inf_nan=False)]
Spread = Annotated[float, Field(gt=0.0, le=10.0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Open(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class _Backbone(_Open):
    name: Name


class _Preprocess(_Open):
    size: int = Field(gt=0, le=8192)
    input_size: int = Field(gt=0, le=8192)
    fill: int = Field(default=255, ge=0, le=255)
    mean: tuple[Channel, Channel, Channel]
    std: tuple[Spread, Spread, Spread]
    flip: bool = False


class SidecarSchema(_Open):
    """What ``read_sidecar`` accepts; model-defining keys are typed, the rest are free."""

    format_version: int
    strategy: Name
    strategy_options: dict[str, Any] = {}
    backbone: _Backbone
    taxonomy: dict[str, Any]
    heads: dict[str, list[str]]
    logit_heads: list[str] | None = None
    preprocess: _Preprocess
    thresholds: dict[str, Probability] | None = None
    temperature: dict[str, Temperature] | None = None
    files: dict[str, str]
    parts: dict[str, str] | None = None

    @model_validator(mode="after")
    def _files_and_parts(self) -> SidecarSchema:
        from fashiontag.artifact import WEIGHTS_NAME  # artifact imports this module: the name is read at call time

        for name, digest in self.files.items():
            if not _PLAIN.match(name):
                raise ValueError(f"files: {name!r} is not a plain file name inside the model directory")
            if not _SHA256.match(digest):
                raise ValueError(f"files[{name!r}]: {digest!r} is not a sha256 hex digest")
        for name, sub in (self.parts or {}).items():
            if not _PLAIN.match(sub):
                raise ValueError(f"parts[{name!r}]: {sub!r} is not a plain folder name inside the model directory")
        if self.strategy == "cascade":
            if "router" not in (self.parts or {}):
                raise ValueError("a cascade needs parts with a 'router'")
        elif WEIGHTS_NAME not in self.files:
            raise ValueError(f"files must list {WEIGHTS_NAME} with its sha256 (verification cannot be turned off)")
        return self


def schema_problems(text: str) -> list[str]:
    """Every schema violation in sidecar JSON ``text`` as ``"key.path: message"``; empty when valid.

    Example:
        >>> schema_problems('{"preprocess": {"size": 0}}')[0]  # doctest: +SKIP
        'format_version: Field required'
    """
    try:
        SidecarSchema.model_validate_json(text)
    except ValidationError as exc:
        return [_describe(error) for error in exc.errors()]
    return []


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
