"""The OCR detector and recognizer on ONNX Runtime: many requests, one session call per shape.

Triton's dynamic batcher hands the Python backend several requests at once. Those whose images
have the same shape are stacked and run together, in calls of at most ``max_batch_rows`` rows;
a request with a bad tensor gets its own error and the others still run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InternalError, InvalidInputError
from .embedding import cpu_session


@dataclass(frozen=True)
class ImageModelSettings:
    """Runtime knobs, read from ``config.pbtxt`` parameters."""

    intra_op_threads: int = 2
    max_batch_rows: int = 32

    @classmethod
    def from_params(cls, params: dict[str, str]) -> "ImageModelSettings":
        return cls(**{k: int(params[k]) for k in cls.__dataclass_fields__ if k in params})


class OnnxImageModel:
    """One ONNX image model (``[n, 3, H, W]`` float32 in, one float32 tensor out)."""

    def __init__(self, onnx_path: Path | str, input_name: str, settings: ImageModelSettings = ImageModelSettings(),
                 fixed_height: int | None = None):
        self._session = cpu_session(onnx_path, settings.intra_op_threads)
        self._feed = self._session.get_inputs()[0].name
        self.input_name, self.settings, self.fixed_height = input_name, settings, fixed_height

    def validate(self, batch: np.ndarray) -> None:
        if batch.ndim != 4 or batch.shape[1] != 3 or batch.dtype != np.float32:
            raise InvalidInputError(f"{self.input_name} must be float32 [n, 3, height, width], got "
                                    f"{batch.dtype} {list(batch.shape)}")
        if self.fixed_height is not None and batch.shape[2] != self.fixed_height:
            raise InvalidInputError(f"{self.input_name} must be {self.fixed_height} pixels high, got {batch.shape[2]}")
        if min(batch.shape) == 0:
            raise InvalidInputError(f"{self.input_name} has an empty dimension: {list(batch.shape)}")

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The model's output for ``batch``, computed in calls of at most ``max_batch_rows`` rows."""
        self.validate(batch)
        step = self.settings.max_batch_rows
        parts = [self._session.run(None, {self._feed: batch[i:i + step]})[0] for i in range(0, len(batch), step)]
        return np.concatenate(parts)

    def run_requests(self, batches: Sequence[np.ndarray]) -> list[np.ndarray | Exception]:
        """Outputs per request; requests of one shape share session calls."""
        results: list[np.ndarray | Exception] = [InternalError("not computed")] * len(batches)
        by_shape: dict[tuple, list[int]] = {}
        for index, batch in enumerate(batches):
            try:
                self.validate(batch)
            except InvalidInputError as exc:
                results[index] = exc
                continue
            by_shape.setdefault(batch.shape[1:], []).append(index)
        for indices in by_shape.values():
            output = self.run(np.concatenate([batches[i] for i in indices]))
            start = 0
            for index in indices:
                rows = len(batches[index])
                results[index] = output[start:start + rows]
                start += rows
        return results
