"""Sentence embeddings with ONNX Runtime on the exported all-MiniLM-L6-v2.

The ONNX graph (see ``export``) already does mean pooling and L2
normalisation, so its ``sentence_embedding`` output is the final vector.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ..contracts import EMBEDDING_DIM, MAX_POSITIONS, VOCAB_SIZE
from ..errors import InternalError, InvalidInputError, TritonIngestError
from .artifacts import ONNX_FILE, artifact
from .batching import Rows, pad_batch, plan_batches, trim_padding

if TYPE_CHECKING:
    from .int8_choice import Int8Choice


@dataclass(frozen=True)
class EmbedderSettings:
    """Runtime knobs, read from ``config.pbtxt`` parameters."""

    intra_op_threads: int = 2
    max_batch_rows: int = 8  # the served configs set 1: one text per call pads nothing
    max_batch_tokens: int = 4096

    @classmethod
    def from_params(cls, params: dict[str, str]) -> "EmbedderSettings":
        known = {k: int(params[k]) for k in cls.__dataclass_fields__ if k in params}
        return cls(**known)


def cpu_session(onnx_path: Path | str, intra_op_threads: int):
    """An ONNX Runtime CPU session with ``intra_op_threads`` threads (set explicitly: the default
    was one thread on some machines of this kind), run sequentially, graph fully optimised."""
    import onnxruntime as ort

    if not Path(onnx_path).is_file():
        raise InternalError(f"ONNX model not found at {onnx_path}; run `make model`")
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: the table model's loop warns on every step
    return ort.InferenceSession(os.fspath(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])


def validate_tokens(ids: np.ndarray, mask: np.ndarray) -> None:
    """Reject token tensors the model cannot take, naming the problem."""
    if ids.ndim != 2 or ids.shape != mask.shape:
        raise InvalidInputError(
            f"INPUT_IDS {list(ids.shape)} and ATTENTION_MASK {list(mask.shape)} must be "
            "2-D [batch, tokens] of the same shape"
        )
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise InvalidInputError(f"INPUT_IDS has an empty dimension: {list(ids.shape)}")
    if ids.shape[1] > MAX_POSITIONS:
        raise InvalidInputError(f"sequences have {ids.shape[1]} tokens; the model takes at most {MAX_POSITIONS}")
    if ids.min() < 0 or ids.max() >= VOCAB_SIZE:
        raise InvalidInputError(f"INPUT_IDS must be token ids in [0, {VOCAB_SIZE})")
    if not np.isin(mask, (0, 1)).all():
        raise InvalidInputError("ATTENTION_MASK must contain only 0 and 1")


class OnnxEmbedder:
    """Runs the ONNX sentence-embedding graph on length-sorted, bounded batches."""

    def __init__(self, onnx_path: Path | str, settings: EmbedderSettings = EmbedderSettings()):
        self._session = cpu_session(onnx_path, settings.intra_op_threads)
        self.settings = settings

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": ids, "attention_mask": mask}
        return self._session.run(["sentence_embedding"], feeds)[0]

    def embed_rows(self, rows: Rows) -> np.ndarray:
        """Embeddings ``[len(rows), 384]`` in the rows' order, computed in packed batches."""
        out = np.empty((len(rows.ids), EMBEDDING_DIM), dtype=np.float32)
        s = self.settings
        for index in plan_batches(rows.lengths, s.max_batch_rows, s.max_batch_tokens):
            out[index] = self._run(*pad_batch(rows, index))
        return out

    def embed(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Embed one padded ``[n, L]`` batch of token ids."""
        validate_tokens(ids, mask)
        return self.embed_rows(trim_padding(ids, mask))

    def embed_requests(
        self, requests: Sequence[tuple[np.ndarray, np.ndarray]]
    ) -> list[np.ndarray | Exception]:
        """Embed many requests in shared batches; a bad request yields its own exception."""
        results: list[np.ndarray | Exception] = []
        pending: list[tuple[int, int, int]] = []  # (result slot, first row, end row)
        gathered = Rows([], [])
        for ids, mask in requests:
            try:
                validate_tokens(ids, mask)
            except InvalidInputError as exc:
                results.append(exc)
                continue
            rows = trim_padding(ids, mask)
            pending.append((len(results), len(gathered.ids), len(gathered.ids) + len(rows.ids)))
            gathered.ids.extend(rows.ids)
            gathered.masks.extend(rows.masks)
            results.append(InternalError("not computed"))  # replaced below
        if pending:
            embeddings = self.embed_rows(gathered)
            for slot, first, end in pending:
                results[slot] = embeddings[first:end]
        return results


class NotServedEmbedder:
    """Stands in for an embedder that loaded but cannot serve on this machine (int8 with no
    accurate variant on this CPU): every request gets ``error``, and the server stays ready."""

    def __init__(self, error: TritonIngestError):
        self.error = error

    def embed_requests(self, requests: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[Exception]:
        return [self.error] * len(requests)


def load_embedder(params: dict[str, str], on_int8_choice: Callable[["Int8Choice"], None] = lambda choice: None,
                  ) -> "OnnxEmbedder | NotServedEmbedder":
    """The embedder a model's ``config.pbtxt`` parameters describe. ``precision`` ``fp32`` (default)
    loads ``onnx_file``; ``int8`` loads the variant :mod:`.int8_choice` picks for this CPU (and hands
    the choice to ``on_int8_choice``), one text per ONNX Runtime call: dynamic int8 scales each
    call's activations by their own range, so batching texts together would make a text's vector
    depend on its batch-mates."""
    settings = EmbedderSettings.from_params(params)
    precision = params.get("precision", "fp32")
    if precision == "fp32":
        return OnnxEmbedder(artifact(params.get("onnx_file", ONNX_FILE)), settings)
    if precision != "int8" or "onnx_file" in params or params.get("max_batch_rows", "1") != "1":
        raise ValueError(f"precision must be fp32 or int8 (got {precision!r}); int8 chooses its own onnx_file "
                         "and runs one text per call (max_batch_rows 1)")
    from .int8_choice import choose

    choice = choose()
    on_int8_choice(choice)
    if choice.file is None:
        return NotServedEmbedder(choice.unavailable())
    return OnnxEmbedder(artifact(choice.file), replace(settings, max_batch_rows=1))
