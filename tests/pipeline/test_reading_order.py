"""Reading order of OCR'd lines and the page text they make (pure logic, no models)."""

from __future__ import annotations

from triton_ingest.pipeline.layout import OcrLine, page_text, reading_order


def line(text: str, left: int, top: int, right: int, bottom: int) -> OcrLine:
    return OcrLine(text, 0.99, [[left, top], [right, top], [right, bottom], [left, bottom]])


def texts(lines: list[OcrLine]) -> list[str]:
    return [l.text for l in reading_order(lines)]


def test_one_column_reads_top_to_bottom_whatever_the_detector_order():
    lines = [line("third", 50, 140, 500, 160), line("first", 50, 80, 500, 100), line("second", 52, 110, 480, 130)]
    assert texts(lines) == ["first", "second", "third"]


def test_two_columns_under_a_title_read_column_by_column():
    lines = [
        line("R1", 320, 100, 560, 118), line("L1", 40, 100, 280, 118), line("Title over both", 40, 40, 560, 70),
        line("R2", 320, 124, 560, 142), line("L2", 40, 124, 280, 142), line("L3", 40, 148, 280, 166),
    ]
    assert texts(lines) == ["Title over both", "L1", "L2", "L3", "R1", "R2"]


def test_boxes_on_one_row_read_left_to_right_and_join_with_a_space():
    lines = [line("world", 200, 50, 300, 70), line("Hello", 40, 52, 150, 72), line("Next row", 40, 90, 300, 110)]
    ordered = reading_order(lines)
    assert [l.text for l in ordered] == ["Hello", "world", "Next row"]
    assert page_text(ordered) == "Hello world\nNext row"


def test_a_skewed_scan_falls_back_to_tops_then_left_to_right():
    lines = [line("b", 100, 10, 300, 50), line("a", 0, 0, 200, 40)]  # overlapping on both axes
    assert texts(lines) == ["a", "b"]


def test_nothing_in_nothing_out():
    assert reading_order([]) == [] and page_text([]) == ""
