"""What each TensorRT engine of the ``gpu`` target is built for, and how it is checked.

Five models run as TensorRT plans on GPUs: ``embedder``, the OCR ``ocr_detector``,
``ocr_recognizer`` and ``ocr_recognizer_ch``, and the page-element detector ``page_elements``.
(``table_structure`` stays on ONNX Runtime: its decoder is an autoregressive loop in the graph.) Each spec names its ONNX artefact, one optimisation
profile per input (min, opt, max shapes, batch first, within the contract's ``max_batch_size``)
and a parity check: the FP16 engine must agree with ONNX Runtime on real inputs before it is
published. Inputs for the OCR checks are drawn with OpenCV, so nothing else is needed at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..contracts import (
    EMBEDDER,
    MAX_SEQ_LENGTH,
    OCR_DETECTOR,
    OCR_REC_HEIGHT,
    OCR_RECOGNIZER,
    OCR_RECOGNIZER_CH,
    PAGE_ELEMENTS,
    ModelSpec,
)
from .artifacts import OCR_DETECTOR_FILE, OCR_RECOGNIZER_FILES, ONNX_FILE, PAGE_ELEMENTS_FILE, TOKENIZER_FILE

Shape = tuple[int, ...]
Runner = Callable[[dict[str, np.ndarray]], np.ndarray]
"""Runs one batch (inputs by contract name) and returns the model's output."""

PARITY_TEXTS = (
    "Cats purr when they are content.",
    "Triton Inference Server batches requests dynamically on the GPU.",
    "Le chat dort sur le canapé pendant que la pluie tombe.",
    "",
    "🙂 emoji and unusual   whitespace\tin one line",
    " ".join(["A long paragraph about document ingestion, chunking and sentence embeddings."] * 40),
)
OCR_LINES = ("Invoice 2026-0117: total due 1,250.00 EUR", "Triton serves OCR on H100 GPUs", "page 3 of 12")


@dataclass(frozen=True)
class EngineSpec:
    """One engine: the served model it becomes, its ONNX artefact and its optimisation profile."""

    model: str
    onnx_file: str
    profile: tuple[tuple[Shape, Shape, Shape], ...]  # per input of the contract: (min, opt, max)
    fp16: bool = True
    min_parity: float = 0.999  # the parity check's score must reach this

    @property
    def contract(self) -> ModelSpec:
        return {m.name: m for m in (EMBEDDER, OCR_DETECTOR, OCR_RECOGNIZER, OCR_RECOGNIZER_CH, PAGE_ELEMENTS)}[self.model]


def _sequence_profile(max_batch: int) -> tuple[Shape, Shape, Shape]:
    return (1, 1), (max(1, max_batch // 2), min(128, MAX_SEQ_LENGTH)), (max_batch, MAX_SEQ_LENGTH)


def _crop_profile(max_batch: int) -> tuple[Shape, Shape, Shape]:
    height = OCR_REC_HEIGHT
    return (1, 3, height, 160), (max_batch // 2, 3, height, 960), (max_batch, 3, height, 3200)


SPECS: dict[str, EngineSpec] = {spec.model: spec for spec in (
    EngineSpec(EMBEDDER.name, ONNX_FILE, (_sequence_profile(EMBEDDER.max_batch_size),) * 2),
    EngineSpec(OCR_DETECTOR.name, OCR_DETECTOR_FILE,
               (((1, 3, 32, 32), (1, 3, 1024, 1024), (OCR_DETECTOR.max_batch_size, 3, 2048, 2048)),), min_parity=0.99),
    EngineSpec(OCR_RECOGNIZER.name, OCR_RECOGNIZER_FILES["en"][0], (_crop_profile(OCR_RECOGNIZER.max_batch_size),),
               min_parity=0.98),
    EngineSpec(OCR_RECOGNIZER_CH.name, OCR_RECOGNIZER_FILES["ch"][0],
               (_crop_profile(OCR_RECOGNIZER_CH.max_batch_size),), min_parity=0.98),
    EngineSpec(PAGE_ELEMENTS.name, PAGE_ELEMENTS_FILE,
               (tuple((batch, *PAGE_ELEMENTS.inputs[0].dims) for batch in (1, 2, PAGE_ELEMENTS.max_batch_size)),),
               min_parity=0.95),
)}
"""Every engine of the ``gpu`` target, by served model name."""


@dataclass
class ParityInputs:
    """Real inputs for one model's parity check, and how to score engine against ONNX Runtime."""

    batch: dict[str, np.ndarray]
    score: Callable[[np.ndarray, np.ndarray], float] = field(repr=False)


def _cosine_min(engine: np.ndarray, reference: np.ndarray) -> float:
    cosine = np.sum(engine * reference, axis=1) / (np.linalg.norm(engine, axis=1) * np.linalg.norm(reference, axis=1))
    return float(cosine.min())


def _same_decisions(threshold: float | None) -> Callable[[np.ndarray, np.ndarray], float]:
    """Share of pixels on the same side of ``threshold`` (detector), or of time steps with the same
    best class (recognizer, ``threshold`` None)."""
    def score(engine: np.ndarray, reference: np.ndarray) -> float:
        if threshold is None:
            return float(np.mean(engine.argmax(axis=-1) == reference.argmax(axis=-1)))
        return float(np.mean((engine > threshold) == (reference > threshold)))
    return score


def _class_scores_agree(engine: np.ndarray, reference: np.ndarray) -> float:
    """1 minus the largest difference in any anchor's class probability (page elements)."""
    return 1.0 - float(np.abs(engine[..., :10] - reference[..., :10]).max())


def _drawn_page() -> np.ndarray:
    import cv2

    page = np.full((768, 1024, 3), 255, np.uint8)
    for row, text in enumerate(OCR_LINES * 3):
        cv2.putText(page, text, (40, 60 + 70 * row), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (0, 0, 0), 2, cv2.LINE_AA)
    return page


def parity_inputs(spec: EngineSpec, artifacts: Path) -> ParityInputs:
    """The inputs a new engine is checked on."""
    from . import ocr

    if spec.model == EMBEDDER.name:
        from .tokenization import TextTokenizer

        ids, mask = TextTokenizer(artifacts / TOKENIZER_FILE).encode(list(PARITY_TEXTS))
        return ParityInputs({"INPUT_IDS": ids, "ATTENTION_MASK": mask}, _cosine_min)
    page = _drawn_page()
    if spec.model == PAGE_ELEMENTS.name:
        from . import page_elements

        return ParityInputs({"IMAGE": page_elements.detector_input(page)[None]}, _class_scores_agree)
    if spec.model == OCR_DETECTOR.name:
        return ParityInputs({"IMAGE": ocr.detection_input(page).tensor[None]}, _same_decisions(0.3))
    crops = [page[35 + 70 * row: 75 + 70 * row, 30:1000] for row in range(len(OCR_LINES))]
    return ParityInputs({"CROPS": ocr.recognition_input(crops, 960)}, _same_decisions(None))


def onnx_runner(spec: EngineSpec, artifacts: Path) -> Runner:
    """The same model on ONNX Runtime (CPU): the reference of the parity check."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(artifacts / spec.onnx_file), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, {name: array for name, array in zip(names, batch.values())})[0]

    return run
