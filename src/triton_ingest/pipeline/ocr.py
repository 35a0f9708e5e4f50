"""OCR of one image: detect text lines, recognize them in width buckets, put them in reading order.

The two models are injected as async functions (BLS calls inside Triton, gRPC in the PyTriton
deployment, ONNX Runtime in tests), so this runs anywhere. Served models decode images in worker
processes (``worker_decoder``), killed at the time limit and capped in memory. The rest of the
image work (scaling, DB post-processing, cropping) runs in threads: OpenCV and NumPy release the
GIL, so the event loop keeps serving other pages while one is prepared.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Awaitable, Callable, Mapping, Sequence

import numpy as np

from ..contracts import OCR_RECOGNIZER, OCR_RECOGNIZER_CH, ModelSpec
from ..errors import InvalidInputError
from ..models import ocr as ocr_model
from ..models.artifacts import OCR_RECOGNIZER_FILES, artifact
from .extraction import Extractor
from .images import decode_bgr
from .ingest import single
from .layout import OcrLine, page_text, reading_order
from .options import OcrOptions, ceilings
from .regions import Region, RegionReader, region_reader

ModelFn = Callable[[np.ndarray], Awaitable[np.ndarray]]
"""A batched model call: detector ``[n, 3, H, W] -> [n, 1, H, W]``, recognizer ``[n, 3, 48, W] -> [n, T, C]``."""
DecodeFn = Callable[[bytes, int, str], Awaitable[np.ndarray]]
"""Encoded image, max_pixels, what to call it in errors -> BGR ``[H, W, 3]`` uint8."""

RECOGNIZERS = {"en": OCR_RECOGNIZER, "ch": OCR_RECOGNIZER_CH}
"""The recognizer model of each ``language``."""
MIN_LINE_SCORE = 0.5  # lines recognized with less confidence are dropped, as RapidOCR does
MAX_CROPS_PER_CALL = 32


@dataclass
class OcrResult:
    lines: list[OcrLine]
    width: int
    height: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    regions: list[Region] = field(default_factory=list)  # tables and figures, when asked for

    @property
    def text(self) -> str:
        return page_text(self.lines)

    def line_dicts(self) -> list[dict]:
        return [asdict(line) for line in self.lines]


async def decode_in_thread(data: bytes, max_pixels: int, what: str) -> np.ndarray:
    """Decode in this process (tests and benchmarks); served models decode in worker processes."""
    return await asyncio.to_thread(decode_bgr, data, max_pixels, what)


class OcrEngine:
    """Reads images with a detector and a recognizer (see module docstring); ``decode`` turns
    encoded bytes into BGR pixels (served: ``Extractor.decode``, in a killable worker process)."""

    def __init__(self, detect: ModelFn, recognize: ModelFn, charset: Sequence[str],
                 settings: ocr_model.DetectionSettings = ocr_model.DetectionSettings(),
                 decode: DecodeFn = decode_in_thread, regions: RegionReader | None = None):
        self.detect, self.recognize, self.charset, self.settings = detect, recognize, charset, settings
        self.decode, self.regions = decode, regions

    async def read_bytes(self, data: bytes, max_pixels: int, what: str = "IMAGE", tables: bool = False) -> OcrResult:
        """OCR of an encoded image (PNG, JPEG, TIFF's first frame, WebP, ...); with ``tables``, its
        tables and figures too."""
        clock = _Clock()
        image = await self.decode(data, max_pixels, what)
        clock.lap("decode_ms")
        result = await (self.read_with_regions(image) if tables else self.read(image))
        result.timings_ms = {**clock.laps, **result.timings_ms}
        return result

    async def read_with_regions(self, image: np.ndarray) -> OcrResult:
        """OCR of a BGR image, and its tables and figures (the detector runs while OCR does)."""
        if self.regions is None:
            raise InvalidInputError('OPTIONS.tables "auto" needs the page_elements and table_structure models, '
                                    "which this server does not serve")
        found, result = await asyncio.gather(self.regions.find(image), self.read(image))
        clock = _Clock()
        result.regions = await self.regions.read(image, result.lines, found)
        clock.lap("regions_ms")
        result.timings_ms.update(clock.laps)
        return result

    async def read(self, image: np.ndarray) -> OcrResult:
        """OCR of a BGR ``[H, W, 3]`` uint8 image."""
        clock = _Clock()
        detection = await asyncio.to_thread(ocr_model.detection_input, image, self.settings)
        probability = await self.detect(detection.tensor[None])
        boxes, crops = await asyncio.to_thread(self._boxes_and_crops, probability, detection)
        clock.lap("detect_ms")
        decoded = await self._recognize_all(crops)
        clock.lap("recognize_ms")
        page_boxes = ocr_model.to_page(boxes, detection, image.shape[:2])
        lines = [OcrLine(text, round(score, 4), np.round(box).astype(int).tolist())
                 for (text, score), box in zip(decoded, page_boxes) if text and score >= MIN_LINE_SCORE]
        return OcrResult(reading_order(lines), image.shape[1], image.shape[0], clock.laps)

    def _boxes_and_crops(self, probability: np.ndarray, detection) -> tuple[list, list]:
        boxes = ocr_model.detected_boxes(np.asarray(probability)[0, 0], detection, self.settings)
        return boxes, [ocr_model.crop_line(detection.image, box) for box in boxes]

    async def _recognize_all(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """(text, score) per crop; each width bucket goes out in calls of at most 32 crops, concurrently."""
        calls = []
        for width, indices in ocr_model.by_bucket(crops).items():
            for start in range(0, len(indices), MAX_CROPS_PER_CALL):
                calls.append((width, indices[start:start + MAX_CROPS_PER_CALL]))
        outputs = await asyncio.gather(*(self._recognize(width, [crops[i] for i in part]) for width, part in calls))
        decoded: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for (_, part), texts in zip(calls, outputs):
            for index, text in zip(part, texts):
                decoded[index] = text
        return decoded

    async def _recognize(self, width: int, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        batch = await asyncio.to_thread(ocr_model.recognition_input, crops, width)
        probabilities = await self.recognize(batch)
        return [ocr_model.ctc_decode(row, self.charset) for row in np.asarray(probabilities)]


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round((now - self._last) * 1000, 1)
        self._last = now


def engines(model_fn: Callable[[ModelSpec], ModelFn], detector: ModelSpec,
            decode: DecodeFn = decode_in_thread) -> dict[str, OcrEngine]:
    """An engine per language; ``model_fn(spec)`` makes the call to a served model."""
    detect = model_fn(detector)
    regions = region_reader(model_fn)
    return {language: OcrEngine(detect, model_fn(spec), ocr_model.load_charset(artifact(OCR_RECOGNIZER_FILES[language][1])),
                                decode=decode, regions=regions)
            for language, spec in RECOGNIZERS.items()}


def worker_decoder(extractor: Extractor) -> DecodeFn:
    """Decoding in ``extractor``'s worker processes, under the operator's ``time_limit_s`` ceiling:
    a decoder that hangs or needs too much memory fails that image alone."""
    async def decode(data: bytes, max_pixels: int, what: str) -> np.ndarray:
        return await extractor.decode(data, max_pixels, what, ceilings()["time_limit_s"])

    return decode


async def ocr_request(engines: dict[str, OcrEngine], inputs: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
    """One ``ocr`` request (contract ``contracts.OCR``): IMAGE and OPTIONS -> LINES and SUMMARY."""
    image = single(inputs.get("IMAGE"), "IMAGE")
    options = OcrOptions.parse(single(inputs.get("OPTIONS"), "OPTIONS"))
    if not image:
        raise InvalidInputError("IMAGE is empty")
    result = await engines[options.language].read_bytes(image, options.max_pixels, tables=options.tables == "auto")
    summary = {"width": result.width, "height": result.height, "lines": len(result.lines),
               "language": options.language, "text": result.text, "timings_ms": result.timings_ms,
               "tables": sum(r.kind == "table" for r in result.regions),
               "figures": sum(r.kind == "figure" for r in result.regions)}
    return {
        "LINES": np.array([json.dumps(line).encode() for line in result.line_dicts()], dtype=object),
        "SUMMARY": np.array([json.dumps(summary).encode()], dtype=object),
        "ELEMENTS": np.array([json.dumps(r.as_dict()).encode() for r in result.regions], dtype=object),
    }
