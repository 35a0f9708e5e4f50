"""Documents whose tables are known: the same sections and tables written as a PDF (ruled tables,
an outline, a running header and a "Page N of M" footer), a DOCX, HTML and Markdown; and a scanned
page with a captioned bar chart. Used by the structure tests and by ``benchmarks/structure_accuracy.py``;
``cell_accuracy`` scores what came back."""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass, field

RUNNING_HEADER = "ACME Platform Runbook - internal"
WORDS = ("alpha", "bravo", "cache", "delta", "edge", "fleet", "gateway", "host", "index", "journal", "kernel",
         "ledger", "mirror", "node", "origin", "proxy", "queue", "replica", "shard", "token", "vault", "worker")
NAMES = ("LATIN CAPITAL LETTER A WITH RING ABOVE", "GREEK SMALL LETTER ALPHA", "EURO SIGN", "EM DASH",
         "LATIN SMALL LETTER SHARP S", "CYRILLIC CAPITAL LETTER ZHE", "DEGREE SIGN", "MICRO SIGN")


@dataclass
class Section:
    title: str
    prose: str
    rows: list[list[str]]  # the first row is the header
    caption: str = ""
    subsections: list["Section"] = field(default_factory=list)


def generated_sections(seed: int = 7, count: int = 4, max_rows: int = 9) -> list[Section]:
    """Sections each with a table of 3-5 columns: names, numbers, wrapped descriptions, Unicode names."""
    rng = random.Random(seed)
    sections = []
    for number in range(1, count + 1):
        columns = rng.randint(3, 5)
        header = ["Name", "Port", "Description", "Owner", "Code"][:columns]
        body = []
        for _ in range(rng.randint(3, max_rows)):
            row = [f"{rng.choice(WORDS)}-{rng.randint(1, 99)}", str(rng.randint(1024, 65535)),
                   " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))),
                   rng.choice(NAMES).title(), f"U+{rng.randint(0x100, 0x2FFF):04X}"][:columns]
            body.append(row)
        sections.append(Section(f"{number} Services of zone {rng.choice(WORDS)}",
                                f"This section lists the services of zone {number}. " * 3,
                                [header, *body], caption=f"Table {number}: services of zone {number}"))
    return sections


def table_pdf(sections: list[Section], furniture: bool = True) -> bytes:
    """Each section starts a page with an outline entry, prose, then its ruled table and caption."""
    from fpdf import FPDF

    class Runbook(FPDF):
        def header(self) -> None:
            if furniture:
                self.set_font("helvetica", size=8)
                self.cell(0, 6, RUNNING_HEADER, align="C", new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            if furniture:
                self.set_y(-12)
                self.set_font("helvetica", size=8)
                self.cell(0, 6, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = Runbook()
    pdf.set_auto_page_break(True, margin=18)
    for section in sections:
        pdf.add_page()
        pdf.set_font("helvetica", size=14)
        pdf.start_section(section.title, level=0)
        pdf.cell(0, 10, section.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=10)
        pdf.multi_cell(0, 5, section.prose, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        with pdf.table(first_row_as_headings=True, line_height=5) as table:
            for row in section.rows:
                cells = table.row()
                for value in row:
                    cells.cell(value)
        pdf.multi_cell(0, 6, section.caption, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def html_rendered_pdf(sections) -> bytes:
    """The same tables as HTML, laid out by fpdf2's HTML renderer (ruled: border=1)."""
    from html import escape

    from fpdf import FPDF

    pdf = FPDF()
    for section in sections:
        pdf.add_page()
        pdf.set_font("helvetica", size=9)
        rows = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>" for row in section.rows)
        pdf.write_html(f"<h2>{escape(section.title)}</h2><p>{escape(section.prose)}</p>"
                       f"<table border=\"1\"><thead>{rows[:rows.index('</tr>') + 5]}</thead>"
                       f"<tbody>{rows[rows.index('</tr>') + 5:]}</tbody></table>")
    return bytes(pdf.output())


def table_docx(sections: list[Section]) -> bytes:
    import docx

    document = docx.Document()
    for section in sections:
        document.add_heading(section.title, level=1)
        document.add_paragraph(section.prose)
        document.add_paragraph(section.caption, style="Caption")
        table = document.add_table(rows=len(section.rows), cols=len(section.rows[0]))
        for r, row in enumerate(section.rows):
            for c, value in enumerate(row):
                table.cell(r, c).text = value
        document.add_paragraph("The table above is complete.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def table_html(sections: list[Section]) -> bytes:
    from html import escape

    parts = ["<!DOCTYPE html><html><body>"]
    for section in sections:
        parts.append(f"<h1>{escape(section.title)}</h1><p>{escape(section.prose)}</p><table>"
                     f"<caption>{escape(section.caption)}</caption>")
        parts.append("<tr>" + "".join(f"<th>{escape(v)}</th>" for v in section.rows[0]) + "</tr>")
        for row in section.rows[1:]:
            parts.append("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>")
        parts.append("</table>")
    return ("".join(parts) + "</body></html>").encode()


def table_markdown(sections: list[Section]) -> bytes:
    parts = []
    for section in sections:
        parts += [f"# {section.title}", "", section.prose, "", section.caption, "",
                  "| " + " | ".join(section.rows[0]) + " |", "|" + "---|" * len(section.rows[0])]
        parts += ["| " + " | ".join(row) + " |" for row in section.rows[1:]] + [""]
    return "\n".join(parts).encode()


def markdown_cells(text: str) -> list[list[str]]:
    """The cells of a Markdown table's rows (caption and delimiter rows skipped)."""
    rows = []
    for line in text.split("\n"):
        if line.startswith("|") and not re.fullmatch(r"\|(---\|)+", line):
            rows.append([cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def cell_accuracy(truth: list[list[str]], found: list[list[str]]) -> float:
    """The share of ``truth``'s cells found with the same text at the same row and column."""
    total = sum(len(row) for row in truth)
    hits = sum(1 for r, row in enumerate(truth) for c, value in enumerate(row)
               if r < len(found) and c < len(found[r]) and " ".join(found[r][c].split()) == " ".join(value.split()))
    return hits / total if total else 1.0


FIGURE_CAPTION = "Figure 1: Requests per second by zone"
FIGURE_BARS = (("alpha", 420), ("bravo", 310), ("delta", 520), ("edge", 180))


def figure_page():
    """A scanned page (PIL, 150 dpi A4) with a heading, prose, a bar chart whose bars are labelled
    with :data:`FIGURE_BARS` and, below it, :data:`FIGURE_CAPTION`."""
    from PIL import Image, ImageDraw, ImageFont

    page, font = Image.new("RGB", (1240, 1754), "white"), ImageFont.load_default(size=30)
    draw = ImageDraw.Draw(page)
    draw.text((100, 120), "3 Traffic by zone", fill="black", font=font)
    for row, line in enumerate(("The chart below shows the requests per second served in each zone",
                                "during the load test of November, measured at the gateway.")):
        draw.text((100, 190 + 40 * row), line, fill="black", font=font)
    left, top, right, bottom = 200, 320, 1040, 900
    draw.line((left, top, left, bottom), fill="black", width=3)
    draw.line((left, bottom, right, bottom), fill="black", width=3)
    for index, (name, value) in enumerate(FIGURE_BARS):
        x = left + 60 + index * 190
        draw.rectangle((x, bottom - value, x + 110, bottom), fill=(60, 90, 200))
        draw.text((x + 10, bottom + 15), name, fill="black", font=font)
        draw.text((x + 20, bottom - value - 40), str(value), fill="black", font=font)
    draw.text((250, 990), FIGURE_CAPTION, fill="black", font=font)
    draw.text((100, 1100), "The edge zone served the least traffic because it was drained.", fill="black", font=font)
    return page
