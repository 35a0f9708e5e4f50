"""Reading order of OCR'd lines and the page text they make (no image libraries: light to import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


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
