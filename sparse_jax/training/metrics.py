"""Metrics as JSON lines: one record per line, each with its step."""

import json
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import numpy as np


class JsonlMetricWriter:
    """Appends metric records to a JSON-lines file.

    Each record is a JSON object with ``step``, optional string labels (such as
    ``split``) and the metric values as numbers. Array scalars are converted
    to Python numbers. NaN and infinities are written as ``NaN`` and
    ``Infinity``, which Python's ``json`` reads back but strict JSON parsers
    reject.

    Args:
      path: the ``.jsonl`` file; its folder must exist.
      resume_step: when resuming from a checkpoint at this step, records with a
        larger step (written after that checkpoint by the interrupted run) are
        removed, so the file has no duplicate steps. None starts a new file.
    """

    def __init__(self, path: str | os.PathLike, *, resume_step: int | None = None):
        self.path = pathlib.Path(path)
        kept_lines: list[str] = []
        if resume_step is not None and self.path.exists():
            kept_lines = [
                line
                for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= resume_step
            ]
        self.path.write_text("".join(line + "\n" for line in kept_lines))
        self._file = self.path.open("a")

    def write(self, step: int, metrics: Mapping[str, Any], **labels: str) -> dict[str, Any]:
        """Appends one record and returns it as written."""
        record: dict[str, Any] = {"step": int(step), **labels}
        for name, value in metrics.items():
            record[name] = to_number(value)
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        return record

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "JsonlMetricWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def to_number(value: Any) -> int | float | bool:
    """Converts a scalar (Python, NumPy or JAX) to a Python bool, int or float."""
    array = np.asarray(value)
    if array.shape != ():
        raise ValueError(f"metric values must be scalars, got shape {array.shape}")
    item = array.item()
    if isinstance(item, bool | int):
        return item
    return float(item)


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Reads every record of a JSON-lines metrics file."""
    text = pathlib.Path(path).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class NonFiniteLossError(FloatingPointError):
    """Training produced a non-finite loss, gradient or parameter at ``step``.

    Attributes:
      step: the 1-based number of the update that failed.
    """

    def __init__(self, message: str, *, step: int):
        super().__init__(message)
        self.step = step
