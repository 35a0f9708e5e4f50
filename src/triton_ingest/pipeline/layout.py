"""Reading order of OCR'd lines, and the page text and elements they make (no image libraries:
light to import)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from .elements import Element, blocks, table_element


@dataclass
class OcrLine:
    text: str
    score: float
    box: list[list[int]]  # four corners in page pixels: top-left, top-right, bottom-right, bottom-left

    @property
    def top(self) -> float:
        return min(y for _, y in self.box)

    @property
    def bottom(self) -> float:
        return max(y for _, y in self.box)

    @property
    def left(self) -> float:
        return min(x for x, _ in self.box)

    @property
    def right(self) -> float:
        return max(x for x, _ in self.box)


def _split(lines: list[OcrLine], low: Callable, high: Callable) -> tuple[list[list[OcrLine]], float]:
    """Lines in order along one axis, cut at the empty bands at least 0.8 times as wide as the
    widest one; and that widest width (0 when nothing separates them)."""
    ordered = sorted(lines, key=low)
    gaps, reach = [], high(ordered[0])
    for line in ordered[1:]:
        gaps.append(low(line) - reach)
        reach = max(reach, high(line))
    widest = max(gaps, default=0.0)
    groups = [[ordered[0]]]
    for line, gap in zip(ordered[1:], gaps):
        if widest > 0 and gap >= 0.8 * widest:
            groups.append([])
        groups[-1].append(line)
    return groups, max(widest, 0.0)


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Top to bottom, and columns left to right: a recursive XY cut at the widest empty bands, so
    a column gutter wins over the narrower gaps between lines, and a title over two columns is cut
    off first. Lines that overlap on both axes (a skewed scan) are read by their tops, then left to
    right."""
    if len(lines) <= 1:
        return list(lines)
    rows, row_gap = _split(lines, lambda l: l.top, lambda l: l.bottom)
    columns, column_gap = _split(lines, lambda l: l.left, lambda l: l.right)
    groups = columns if column_gap >= row_gap else rows
    if len(groups) > 1:
        return [line for group in groups for line in reading_order(group)]
    return sorted(lines, key=lambda l: (round(l.top / max(1.0, l.bottom - l.top)), l.left))


def page_text(lines: list[OcrLine]) -> str:
    """Lines in reading order as text: boxes on the same row joined by a space, rows by a newline."""
    parts: list[str] = []
    previous = None
    for line in lines:
        if previous is not None:
            overlap = min(previous.bottom, line.bottom) - max(previous.top, line.top)
            same_row = overlap > 0.5 * min(previous.bottom - previous.top, line.bottom - line.top)
            parts.append(" " if same_row and line.left >= previous.right else "\n")
        parts.append(line.text)
        previous = line
    return "".join(parts)


def ocr_elements(lines: list[OcrLine], regions: list[dict]) -> list[Element]:
    """A page's elements from its OCR lines (reading order) and the tables and figures found on it
    (the ``ocr`` model's ELEMENTS): each stands where its first line does; the other lines are
    paragraphs."""
    owner = {index: region for region in regions for index in region.get("lines", ())}
    elements: list[Element] = []
    pending: list[OcrLine] = []
    placed: set[int] = set()

    def flush() -> None:
        elements.extend(blocks("paragraph", page_text(pending)))
        pending.clear()

    for index, line in enumerate(lines):
        region = owner.get(index)
        if region is None:
            pending.append(line)
            continue
        if id(region) in placed:
            continue
        flush()
        placed.add(id(region))
        box = tuple(region["box"])
        if region["kind"] == "table":
            element = table_element(region["rows"], region.get("caption", ""), box)
        else:
            text = "\n".join(part for part in (region.get("caption", ""), region.get("text", "")) if part)
            element = Element("figure", text, caption=region.get("caption", ""), box=box)
        if element is not None:
            elements.append(element)
    flush()
    return elements


def parse_ocr_outputs(outputs: Mapping[str, Sequence[bytes]]) -> tuple[list[dict], list[dict]]:
    """An ``ocr`` response's LINES and ELEMENTS, parsed (ELEMENTS may be absent)."""
    lines, elements = ([json.loads(item) for item in outputs.get(name, ())] for name in ("LINES", "ELEMENTS"))
    return lines, elements
