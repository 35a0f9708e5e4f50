"""Tables and figures on page images, found by the served ``page_elements`` and ``table_structure`` models.

The detector finds the page's regions. A ``table`` region is cropped and read by the table model;
its cells are filled with the page's text lines (OCR lines on a scan, text runs on a rendered PDF
page) that fall in them, joined in reading order. A ``figure`` region keeps the lines inside it as its text. A region's
caption is the text of a caption-like region (``table_caption``, ``figure_caption``, or
``reference``, the label the detector gives most captions) right above or below it.

The models are injected as async functions (BLS calls inside Triton, gRPC in the PyTriton
deployment, ONNX Runtime in tests). The detector's labels and scores are not trusted blindly: a
table whose cells hold fewer than two rows of text stays text, and a figure without words is
dropped (there is nothing to embed).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Awaitable, Callable

import numpy as np

from ..contracts import PAGE_ELEMENT_LABELS, PAGE_ELEMENTS, TABLE_STRUCTURE, ModelSpec
from ..models import page_elements as detector
from ..models import table_structure as structure
from ..models.artifacts import TABLE_STRUCTURE_FILES, artifact
from .layout import OcrLine, page_text

ModelFn = Callable[[np.ndarray], Awaitable[np.ndarray]]
CAPTION_LABELS = ("table_caption", "figure_caption", "reference")
# A table is cropped at its box, with no margin: the table model is unsteady with where the crop's
# edges fall (on 12 unruled tables, margins of 0, 0.4% and 0.8% of the page gave 71%, 32% and 83%
# of cells right; on scans, whose detected boxes already have a margin, 0 did best: 1% gave 27%).
CAPTION_GAP = 0.05  # of the page height: how far a caption may sit from its table or figure
WIDE_LINE = 0.8  # of a table's width: a line this wide at its top or bottom edge is prose, not a row
MAX_TABLES_PER_PAGE = 16


@dataclass
class Region:
    """A table or figure found on a page image; ``lines``: the indices of the page lines it holds."""

    kind: str  # "table" | "figure"
    box: tuple[float, float, float, float]  # left, top, right, bottom in the image's pixels
    score: float
    rows: list[list[str]] | None = None
    text: str = ""
    caption: str = ""
    lines: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _centre(line: OcrLine) -> tuple[float, float]:
    return (line.left + line.right) / 2, (line.top + line.bottom) / 2


def _inside(point: tuple[float, float], box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def _trimmed(box, lines: list[OcrLine]) -> tuple[float, float, float, float]:
    """A table's box without the wide lines (prose, a caption) the detector took in at its top or
    bottom edge: the table model would read them as a row."""
    left, top, right, bottom = box
    edge = 0.25 * (bottom - top)
    for line in lines:
        if not _inside(_centre(line), box) or line.right - line.left < WIDE_LINE * (right - left):
            continue
        if _centre(line)[1] < box[1] + edge:
            top = max(top, line.bottom + 1)
        elif _centre(line)[1] > box[3] - edge:
            bottom = min(bottom, line.top - 1)
    return (left, top, right, bottom) if bottom - top > 8 else box


def _caption_for(box, captions: list[detector.Detection], height: int) -> detector.Detection | None:
    """The caption-like region nearest above or below ``box`` that overlaps it horizontally."""
    best, best_gap = None, CAPTION_GAP * height
    for caption in captions:
        if min(box[2], caption.box[2]) <= max(box[0], caption.box[0]):
            continue
        gap = max(box[1] - caption.box[3], caption.box[1] - box[3])
        if -0.5 * (caption.box[3] - caption.box[1]) <= gap <= best_gap:
            best, best_gap = caption, max(gap, 0.0)
    return best


class RegionReader:
    """Finds a page image's tables and figures (see module docstring)."""

    def __init__(self, detect: ModelFn, read_structure: ModelFn, tokens: list[str]):
        self.detect, self.read_structure = detect, read_structure
        self.vocab = structure.vocabulary(tokens)

    async def find(self, image: np.ndarray) -> list[detector.Detection]:
        """The detector's regions on a BGR ``[H, W, 3]`` page."""
        tensor = await asyncio.to_thread(detector.detector_input, image)
        predictions = np.asarray(await self.detect(tensor[None]))[0]
        return await asyncio.to_thread(detector.detections, predictions, list(PAGE_ELEMENT_LABELS), *image.shape[:2])

    async def read(self, image: np.ndarray, lines: list[OcrLine],
                   found: list[detector.Detection] | None = None) -> list[Region]:
        """The tables and figures of ``image`` whose text is in ``lines`` (reading order)."""
        found = await self.find(image) if found is None else found
        height = image.shape[0]
        regions = [Region(d.label, _trimmed(d.box, lines), d.score) for d in found
                   if d.label == "table"][:MAX_TABLES_PER_PAGE]
        regions += [Region(d.label, d.box, d.score) for d in found if d.label == "figure"]
        captions = [d for d in found if d.label in CAPTION_LABELS]
        for index, line in enumerate(lines):
            region = next((r for r in regions if _inside(_centre(line), r.box)), None)
            if region is not None:
                region.lines.append(index)
        await asyncio.gather(*(self._table(image, r, lines) for r in regions if r.kind == "table" and r.lines))
        # not a table after all, or a figure without words: their lines stay text
        kept = [r for r in regions if r.lines and (r.kind != "table" or len(r.rows or []) >= 2)]
        owned = {index for region in kept for index in region.lines}
        for region in kept:
            if region.kind == "figure":
                region.text = page_text([lines[i] for i in region.lines])
            caption = _caption_for(region.box, captions, height)
            if caption is not None:
                held = [i for i, line in enumerate(lines) if i not in owned and _inside(_centre(line), caption.box)]
                region.caption = page_text([lines[i] for i in held])
                region.lines = sorted(region.lines + held)
                owned.update(held)
        return kept

    async def _table(self, image: np.ndarray, region: Region, lines: list[OcrLine]) -> None:
        """Read ``region``'s rows; it keeps the lines placed in its cells (others stay text), and
        its box becomes theirs."""
        left, top, right, bottom = (int(v) for v in region.box)
        if right - left < 8 or bottom - top < 8:
            region.rows, region.lines = [], []
            return
        tensor, ratio = await asyncio.to_thread(structure.structure_input, image[top:bottom, left:right])
        predictions = np.asarray(await self.read_structure(tensor[None]))[0]
        layout = structure.decode(predictions, self.vocab, ratio)
        mine = [lines[i] for i in region.lines]
        texts = [(line.text, (line.left - left, line.top - top, line.right - left, line.bottom - top)) for line in mine]
        cells = structure.placements(layout, texts)
        region.rows = structure.grid(layout, structure.assign(layout, texts, cells))
        placed = [line for line, cell in zip(mine, cells) if cell >= 0]
        region.lines = [index for index, cell in zip(region.lines, cells) if cell >= 0]
        if placed:
            region.box = (min(l.left for l in placed), min(l.top for l in placed),
                          max(l.right for l in placed), max(l.bottom for l in placed))


def region_reader(model_fn: Callable[[ModelSpec], ModelFn]) -> RegionReader:
    """A reader of the served models; ``model_fn(spec)`` makes the call (BLS, gRPC)."""
    tokens = artifact(TABLE_STRUCTURE_FILES[1]).read_text(encoding="utf-8").splitlines()
    return RegionReader(model_fn(PAGE_ELEMENTS), model_fn(TABLE_STRUCTURE), tokens)
